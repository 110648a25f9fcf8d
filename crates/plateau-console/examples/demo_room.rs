//! A session to look at the console with, without Docker: three candidates
//! of the in-memory test platform, graded, a jury decision, an operator
//! (`operateur` / `operateur-2026`) and a jury (`m.martin` / `jury-martin-2026`).
//! Usage: cargo run -p plateau-console --example demo_room -- STATE_DB

use plateau_engine::{Engine, MemoryEngine};
use plateau_exam::{Role, Roster, Silent, UpRequest, Verdict, Workspace};

#[tokio::main]
async fn main() {
    let state = std::env::args().nth(1).expect("usage: demo_room STATE_DB");
    let workspace = Workspace::new(&state, "operateur").with_engine(Engine::Memory(MemoryEngine::new()));
    let request = UpRequest {
        file_name: "memory.toml".into(),
        text: include_str!("../../plateau-exam/tests/memory.toml").into(),
        session: "demo".into(),
        roster: Roster::Numbered(3),
        seed: None,
        port_base: 40000,
        access_host: "exam.example".into(),
        gateway: None,
    };
    workspace.up(request, &Silent).await.expect("up");
    let ctx = workspace.session("demo").expect("session");
    ctx.start(Some("3h")).await.expect("start");
    ctx.grade(None, 4, &Silent).await.expect("grade");
    ctx.override_verdict("c01", "CP7.1", Verdict::Met, "Explique sa démarche en entretien.", "m.martin")
        .expect("decision");
    workspace.add_account("operateur", Role::Operator, "operateur-2026", None, &[]).expect("account");
    let mine = ["c01".to_string(), "c02".to_string()];
    workspace.add_account("m.martin", Role::Jury, "jury-martin-2026", Some("demo"), &mine).expect("account");
    println!("{state}: session demo ready");
}
