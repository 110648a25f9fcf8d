# Recipes for contributors who have `just`; each wraps a script in scripts/.

# Run the demo exam end to end.
demo:
    bash scripts/demo

# Run every test (what CI runs).
test:
    bash scripts/test

# Validate the shipped scenarios.
validate:
    cargo run -q -p plateau -- validate scenarios/*.toml

# Review changed diagnostic snapshots.
snapshots:
    INSTA_UPDATE=always cargo test -p plateau-tests --test scenarios
