"""`gongkai login/logout/whoami`, `gongkai user …` and `gongkai levels …`: people, roles and review levels.

Thin handlers: the domain functions (pipeline.records.people, authentication, levels) check the authority.
Database and hashing modules are imported inside the commands, so that other commands start without them.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import AgencyOpt, JsonOpt, command_group, context, person
from pipeline.cli.output import out, print_table, say
from pipeline.core.errors import GongkaiError

user_app = command_group("People who log in, and their roles (an admin's commands).", no_args_is_help=True)
levels_app = command_group("Review levels (先审后发), versioned per agency and item kind.", no_args_is_help=True)
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input (one "
                                                                 "line), for scripts.")]


def _password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise GongkaiError("--password-stdin: standard input gave no password")
        return line
    return getpass.getpass(prompt)


def _token_file() -> Path:
    from pipeline.cli.session import token_path

    return token_path(context().settings.database.url)


def login(login_name: Annotated[str | None, typer.Argument(metavar="[LOGIN]", help="Your login (default: the OS "
                                                                                     "user name).")] = None,
          password_stdin: StdinOpt = False,
          print_token: Annotated[bool, typer.Option("--print-token", help="Print the token (for GONGKAI_TOKEN) "
                                                                           "instead of storing it.")] = False) -> None:
    """Log in: asks your password once and keeps a personal token, readable by you only, for this database."""
    from pipeline.cli.session import store_token
    from pipeline.core.clock import SHANGHAI, utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.authentication import log_in

    name = login_name or getpass.getuser()
    secret = _password(password_stdin, f"password for {name}: ")
    ctx = context()
    with session_scope(ctx.engine) as session:
        result = log_in(session, login=name, password=secret, now=utcnow(), label="cli", settings=ctx.settings)
    if result.refused:  # the failure is committed (count, lock, audit) before the refusal is reported
        raise GongkaiError(result.refused)
    if print_token:
        out.out(result.token, highlight=False)
        return
    path = _token_file()
    store_token(path, result.token)
    actor = result.actor
    say(f"logged in as {actor.login} ({actor.name}), {actor.agency_code}: "
        f"{', '.join(sorted(actor.roles)) or 'no role'}; until "
        f"{result.expires_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing time); token in {path}")


def logout() -> None:
    """Log out: the stored token is revoked and its file removed."""
    from pipeline.cli.session import read_token
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.authentication import log_out

    path = _token_file()
    token = read_token(path)
    if token is None:
        raise GongkaiError("not logged in")
    with session_scope(context().engine) as session:
        log_out(session, token, now=utcnow())
    path.unlink(missing_ok=True)
    say("logged out")


def whoami(as_json: JsonOpt = False) -> None:
    """Who you are logged in as, with your roles per agency."""
    from pipeline.core.db import session_scope
    from pipeline.records.people import show_person

    with session_scope(context().engine) as session:
        view = show_person(session, login=person(session).login)
    if as_json:
        from pipeline.cli.json_views import PersonView, print_view

        return print_view(PersonView, view)
    roles = "; ".join(f"{code}: {', '.join(names)}" for code, names in view["roles"].items()) or "no role"
    say(f"{view['login']} ({view['name']}, {view['department'] or '-'}), {view['agency']}; roles {roles}")


@user_app.command("add")
def user_add(login_name: Annotated[str, typer.Argument(metavar="LOGIN", help="Login: lowercase letters, digits.")],
             name: Annotated[str, typer.Option("--name", help="姓名, as shown in review records.")],
             department: Annotated[str, typer.Option("--department", help="处室.")] = "",
             role: Annotated[list[str] | None, typer.Option("--role", help="A role (may repeat): admin, author, "
                                                            "section_head, secrecy_officer, office_director, "
                                                            "legality_reviewer, disclosure_office, operator.")] = None,
             no_password: Annotated[bool, typer.Option("--no-password", help="No password yet (set one later "
                                                                             "with user passwd).")] = False,
             password_stdin: StdinOpt = False, agency: AgencyOpt = None) -> None:
    """Add a person (an admin; the very first person, an admin, may be added before anyone logs in)."""
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.people import add_person, admin_exists

    ctx = context()
    code, _ = ctx.settings.agency(agency)
    with session_scope(ctx.engine) as session:
        actor = person(session) if admin_exists(session) else None
    secret = None if no_password else _password(password_stdin, f"password for {login_name}: ")
    with session_scope(ctx.engine) as session:
        add_person(session, actor=actor, login=login_name, name=name, department=department, agency_code=code,
                   roles=role or [], password=secret, settings=ctx.settings, now=utcnow())
    first = " (the first admin)" if actor is None else ""
    say(f"added {login_name}{first} to {code}: {', '.join(role or []) or 'no role'}")


@user_app.command("list")
def user_list(agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """People of an agency, with roles and state."""
    from pipeline.core.db import session_scope
    from pipeline.records.people import list_people

    ctx = context()
    code, _ = ctx.settings.agency(agency)
    with session_scope(ctx.engine) as session:
        rows = list_people(session, agency_code=code)
    if as_json:
        from pipeline.cli.json_views import PersonView, print_views

        return print_views(PersonView, rows)
    print_table(("login", "姓名", "处室", "roles", "state"),
                ((row["login"], row["name"], row["department"], ", ".join(row["roles"].get(code, [])),
                  ("active" if row["active"] else "disabled") + ("" if row["can_log_in"] else ", no password"))
                 for row in rows))


@user_app.command("show")
def user_show(login_name: Annotated[str, typer.Argument(metavar="LOGIN")], as_json: JsonOpt = False) -> None:
    """One person: agency, roles per agency, state."""
    from pipeline.core.db import session_scope
    from pipeline.records.people import show_person

    with session_scope(context().engine) as session:
        view = show_person(session, login=login_name)
    if as_json:
        from pipeline.cli.json_views import PersonView, print_view

        return print_view(PersonView, view)
    for key, value in view.items():
        say(f"{key}: {value}")


@user_app.command("disable")
def user_disable(login_name: Annotated[str, typer.Argument(metavar="LOGIN")]) -> None:
    """Disable a person: no more logins, every token revoked (an admin)."""
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.people import disable_person

    with session_scope(context().engine) as session:
        disable_person(session, actor=person(session), login=login_name, now=utcnow())
    say(f"{login_name}: disabled; tokens revoked")


@user_app.command("passwd")
def user_passwd(login_name: Annotated[str | None, typer.Argument(metavar="[LOGIN]", help="Whose password (default: "
                                                                                          "yours; others: admin).")]
                = None, password_stdin: StdinOpt = False) -> None:
    """Set a password: your own, or (an admin) anyone's; unlocks the account."""
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.people import set_password

    ctx = context()
    with session_scope(ctx.engine) as session:
        actor = person(session)
    target = login_name or actor.login
    secret = _password(password_stdin, f"new password for {target}: ")
    with session_scope(ctx.engine) as session:
        set_password(session, actor=actor, login=target, password=secret, settings=ctx.settings, now=utcnow())
    say(f"{target}: password set")


@user_app.command("role")
def user_role(login_name: Annotated[str, typer.Argument(metavar="LOGIN")],
              add: Annotated[list[str] | None, typer.Option("--add", help="Grant a role (may repeat).")] = None,
              remove: Annotated[list[str] | None, typer.Option("--remove", help="Take a role away (may repeat).")]
              = None, agency: AgencyOpt = None) -> None:
    """Grant or take away roles in an agency (an admin of it)."""
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.people import change_roles

    ctx = context()
    code, _ = ctx.settings.agency(agency)
    with session_scope(ctx.engine) as session:
        held = change_roles(session, actor=person(session), login=login_name, agency_code=code, add=add or [],
                            remove=remove or [], now=utcnow())
    say(f"{login_name} in {code}: {', '.join(sorted(held)) or 'no role'}")


@user_app.command("revoke")
def user_revoke(login_name: Annotated[str, typer.Argument(metavar="LOGIN")]) -> None:
    """Revoke every login token of a person (an admin, or the person): they must log in again."""
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.authentication import revoke_tokens

    with session_scope(context().engine) as session:
        count = revoke_tokens(session, actor=person(session), login=login_name, now=utcnow())
    say(f"{login_name}: {count} tokens revoked")


@levels_app.command("show")
def levels_show(agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """The review levels items are submitted under now, for every kind and for kinds with their own."""
    from pipeline.core.db import session_scope
    from pipeline.records.levels import show_levels

    ctx = context()
    code, _ = ctx.settings.agency(agency)
    with session_scope(ctx.engine) as session:
        rows = show_levels(session, agency_code=code)
    if as_json:
        from pipeline.cli.json_views import LevelSetView, print_views

        return print_views(LevelSetView, rows)
    for row in rows:
        levels = " → ".join(f"{lv['name']} ({lv['role']})" for lv in row["levels"])
        version = f"version {row['version']} by {row['created_by']}" if row["version"] else "built-in default"
        say(f"{row['kind'] or 'every kind'}: {levels}  [{version}]")


@levels_app.command("set")
def levels_set(levels: Annotated[list[str], typer.Argument(metavar="NAME=ROLE...", help="The levels in order, "
                                                           "e.g. 处室审核=section_head 保密审查=secrecy_officer.")],
               kind: Annotated[str | None, typer.Option("--kind", help="Only for items of this kind (e.g. "
                                                                        "normative); default: every kind.")] = None,
               agency: AgencyOpt = None) -> None:
    """A new version of the review levels (an admin); items already submitted keep the levels they had."""
    from pipeline.core.clock import utcnow
    from pipeline.core.db import session_scope
    from pipeline.records.levels import parse_levels, set_levels

    ctx = context()
    code, _ = ctx.settings.agency(agency)
    parsed = parse_levels(levels)
    with session_scope(ctx.engine) as session:
        row = set_levels(session, actor=person(session), agency_code=code, kind=kind, levels=parsed, now=utcnow())
    say(f"{code} {kind or 'every kind'}: version {row.version}: "
        f"{' → '.join(lv['name'] for lv in row.levels)} (items submitted from now on)")
