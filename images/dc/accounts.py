#!/usr/bin/python3
"""The DC's start-time edits of its own domain, in one process.

Each `samba-tool` run loads Samba's Python and opens the database again
(~0.3 s of CPU each); a room of DCs booting together spent most of its start
there. Here the database is opened once, through samba's own SamDB.

  - the administrator's password (PLATEAU_ADMIN_PASSWORD), once: a restart
    must not set it again (the domain's password history would refuse it);
  - the company's existing staff (PLATEAU_SEED_USERS: `login`, or `login!`
    for a disabled account), created once: a later start (a platform restored
    from a snapshot) keeps what the candidate did to them;
  - sysvol's NT ACLs, at every start: they live in xattr_tdb keyed by inode,
    and a new container sees other inodes (domain users would be refused
    netlogon).
"""
import os
import sys

import ldb
from samba.auth import system_session
from samba.netcmd.main import cmd_sambatool
from samba.param import LoadParm
from samba.samdb import SamDB

MARKS = "/var/lib/plateau"


def once(mark, edit):
    path = os.path.join(MARKS, mark)
    if os.path.exists(path):
        return
    edit()
    os.makedirs(MARKS, exist_ok=True)
    open(path, "w").close()


def main():
    lp = LoadParm()
    lp.load_default()
    samdb = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)

    password = os.environ.get("PLATEAU_ADMIN_PASSWORD", "")
    if password:
        once("admin-password-set", lambda: samdb.setpassword("(sAMAccountName=administrator)", password))

    staff = os.environ.get("PLATEAU_SEED_USERS", "").split()
    if staff:
        def seed():
            for entry in staff:
                login = entry.rstrip("!")
                samdb.newuser(login, os.environ.get("PLATEAU_SEED_PASSWORD", "Plateau-Staff1"))
                if entry.endswith("!"):
                    samdb.disable_account("(sAMAccountName=%s)" % ldb.binary_encode(login))
        once("seeded-users", seed)

    # samba-tool's own command, run in this process (its module is loaded once).
    if cmd_sambatool()._run("samba-tool", "ntacl", "sysvolreset") not in (None, 0):
        print("plateau: sysvol ACLs not reset", file=sys.stderr)


if __name__ == "__main__":
    main()
