"""The plugin author's guide and the architecture page cover the whole plugin boundary, and the
guide's worked example works as an installed plugin.

As datasette does for its plugin hooks: a hook of :mod:`clara_core.hookspecs`, a capability or a
public method of a protocol of :mod:`clara_core.protocols` that docs/plugins.md does not document
fails here, so the guide cannot fall behind the code. docs/architecture.md must have every
capability in its table, with the backends this repository's plugins register, and its module
order must hold for every import of ``clara_core``.

The example plugin (examples/clara-example-plugin) is installed for the run by tests/conftest.py,
like the test plugins: nothing is installed here.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clara_core import hookspecs, protocols
from clara_core.capabilities import CAPABILITIES

Run = Callable[..., Any]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PLUGINS_MD = DOCS / "plugins.md"
ARCHITECTURE_MD = DOCS / "architecture.md"


# -- reading markdown ------------------------------------------------------------------------------


def _lines_outside_code(text: str) -> Iterator[tuple[int, str]]:
    """Each line that is not inside a fenced code block, with its index."""
    fenced = False
    for index, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield index, line


def sections(text: str) -> list[tuple[str, str]]:
    """Every heading with its body: the text up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    headings = [(i, len(m.group(1)), m.group(2)) for i, line in _lines_outside_code(text)
                if (m := re.match(r"(#{1,6}) (.+)$", line))]
    found = []
    for n, (start, level, title) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[n + 1:] if lvl <= level), len(lines))
        found.append((title, "\n".join(lines[start + 1:end])))
    return found


def section_about(text: str, name: str) -> str:
    """The body of the one heading that names ``name`` in backticks."""
    bodies = [body for title, body in sections(text) if f"`{name}`" in title]
    assert len(bodies) == 1, f"expected one heading naming `{name}`, found {len(bodies)}"
    return bodies[0]


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the tables in the section ``heading``, header rows included."""
    body = next(body for title, body in sections(text) if title == heading)
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in body.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]


def slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


# -- the guide: hooks, capabilities, protocols -----------------------------------------------------


def hook_names() -> list[str]:
    """Every hook specification (functions marked by ``hookspec``)."""
    return sorted(name for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
                  if hasattr(func, "clara_spec"))


def protocol_classes() -> dict[str, type]:
    """Every protocol that ``clara_core.protocols`` exports."""
    found = {name: getattr(protocols, name) for name in protocols.__all__}
    return {name: obj for name, obj in found.items() if isinstance(obj, type) and getattr(obj, "_is_protocol", False)}


def public_methods(protocol: type) -> list[str]:
    """The methods a backend of ``protocol`` must have."""
    return sorted(name for name, member in vars(protocol).items() if callable(member) and not name.startswith("_"))


def test_hooks_and_protocols_are_found() -> None:
    assert "register_commands" in hook_names() and len(hook_names()) == len(CAPABILITIES) + 1
    assert {"PowerBackend", "SecretStore", "SecretCipher"} <= set(protocol_classes())


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented_with_an_example(hook: str) -> None:
    body = section_about(PLUGINS_MD.read_text(encoding="utf-8"), hook)
    assert f"{hook}(" in body.split("```")[0], f"{hook}: the signature comes first"
    assert "@hookimpl" in body and f"def {hook}(" in body, f"{hook}: no example implementation"


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_every_capability_is_documented(name: str) -> None:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    capability = CAPABILITIES[name]
    assert f"`{name}`" in text
    body = section_about(text, capability.protocol.__name__)
    assert any(title.startswith(f"`{capability.protocol.__name__}`") and f"`{name}`" in title
               for title, _ in sections(text)), f"the heading of {capability.protocol.__name__} names `{name}`"
    assert body.strip()


@pytest.mark.parametrize("name", sorted(protocol_classes()))
def test_every_protocol_method_is_documented(name: str) -> None:
    body = section_about(PLUGINS_MD.read_text(encoding="utf-8"), name)
    signature_lines = [line for line in body.splitlines() if line.startswith("- `")]
    for method in public_methods(protocol_classes()[name]):
        assert any(line.startswith(f"- `{method}(") for line in signature_lines), f"{name}.{method} is not documented"


def test_the_guide_names_nothing_that_does_not_exist() -> None:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    assert set(re.findall(r"\bregister_\w+_backends\b", text)) <= set(hook_names())
    assert set(re.findall(r"`(\w+Backend)`", text)) <= set(protocols.__all__)
    for title, _ in sections(text):
        if title.startswith("`") and title.split("`")[1][:1].isupper():  # a protocol's section
            assert title.split("`")[1] in protocol_classes(), title


@pytest.mark.parametrize("page", ["plugins.md", "architecture.md", "design.md", "config.md"])
def test_links_resolve_and_the_architecture_stands_on_its_own(page: str) -> None:
    path = DOCS / page
    text = path.read_text(encoding="utf-8")
    if page in ("architecture.md", "design.md"):
        assert "../shared" not in text and "outside this repository" not in text
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http:", "https:")):
            assert page != "architecture.md", f"{page} refers to something outside the repository: {target}"
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists() and linked.is_relative_to(ROOT), f"{page}: broken link {target}"
        if anchor and linked.suffix == ".md":
            anchors = {slug(title) for title, _ in sections(linked.read_text(encoding="utf-8"))}
            assert anchor in anchors, f"{page}: no heading for #{anchor}"


# -- the architecture page: capabilities and their backends ------------------------------------------


def capability_rows() -> dict[str, dict[str, str]]:
    """The capability table of docs/architecture.md, by capability, cells by header."""
    rows = table_rows(ARCHITECTURE_MD.read_text(encoding="utf-8"), "Capabilities")
    header = rows[0]
    return {row[0].strip("`"): dict(zip(header, row, strict=True)) for row in rows[1:]}


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_every_capability_is_in_the_architecture_table(name: str) -> None:
    row = capability_rows().get(name)
    assert row is not None, f"capability {name} missing from the table of docs/architecture.md"
    capability = CAPABILITIES[name]
    assert row["hook"] == f"`{capability.hook}`"
    assert row["protocol"].startswith(f"`{capability.protocol.__name__}`")
    assert row["per node, default"] == f"{'yes' if capability.per_node else 'no'}, `{capability.default}`"


def _registered_backends() -> set[tuple[str, str, str]]:
    """(capability, backend, distribution) of every ``register("name", ...)`` call of this repository's
    plugins: each distribution's ``plugin.py`` and the core's built-in plugins (read, not imported)."""
    by_hook = {capability.hook: capability.name for capability in CAPABILITIES.values()}
    modules = [(path, "clara-core") for path in sorted((ROOT / "clara_core" / "builtin").glob("*.py"))]
    for path in sorted([*ROOT.glob("clara-*/clara_*/plugin.py"), *ROOT.glob("backends/*/clara_*/plugin.py")]):
        project = tomllib.loads((path.parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
        modules.append((path, project["project"]["name"]))
    found = set()
    for path, distribution in modules:
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(function, ast.FunctionDef) or function.name not in by_hook:
                continue
            for call in ast.walk(function):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "register"
                        and call.args and isinstance(call.args[0], ast.Constant)):
                    found.add((by_hook[function.name], str(call.args[0].value), distribution))
    return found


def test_the_architecture_table_lists_the_backends_of_this_repository() -> None:
    registered = _registered_backends()
    assert ("power", "ipmi", "clara-ipmi") in registered and ("secret_store", "passwd_file", "clara-core") in registered
    cells = {name: row["backends in this repo (distribution)"] for name, row in capability_rows().items()}
    pair = re.compile(r"`([\w.-]+)` \(([\w-]+)\)")  # `backend` (distribution)
    listed = {(name, backend, distribution)
              for name, cell in cells.items() for backend, distribution in pair.findall(cell)}
    assert listed == registered, (
        f"docs/architecture.md lists {sorted(listed - registered)} that no plugin registers"
        f" and misses {sorted(registered - listed)}"
    )


# -- the architecture page: module order -------------------------------------------------------------


def core_modules() -> dict[str, Path]:
    """Every module of clara_core by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((ROOT / "clara_core").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def core_imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """The clara_core modules each module imports, ``if TYPE_CHECKING:`` imports included
    (``from package import submodule`` counts as importing the submodule)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom):
                assert not node.level, f"{path}: relative import"
                base = node.module or ""
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        targets.add(f"{base}.{alias.name}")
                    elif base in modules:
                        targets.add(base)
        graph[name] = targets - {name}
    return graph


def test_the_module_order_holds_and_there_is_no_import_cycle() -> None:
    rows = table_rows(ARCHITECTURE_MD.read_text(encoding="utf-8"), "Module dependency order")
    layer: dict[str, int] = {}
    for row in rows[1:]:
        for module in re.findall(r"`(clara_core[\w.]*)`", row[1]):
            assert module not in layer, f"{module} is in two rows"
            layer[module] = int(row[0])
    modules = core_modules()
    assert set(layer) == set(modules), (
        f"rows name modules that do not exist: {sorted(set(layer) - set(modules))};"
        f" modules missing from the table: {sorted(set(modules) - set(layer))}"
    )
    graph = core_imports(modules)
    assert "clara_core.context" in graph["clara_core.registry"]  # a type-only import is seen
    for module, targets in graph.items():
        for target in targets:
            assert layer[target] <= layer[module], (
                f"{module} (row {layer[module]}) imports {target} (row {layer[target]})")
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            assert state.get(target) != "open", f"import cycle: {' -> '.join([*path, module, target])}"
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


# -- the worked example, as an installed plugin ------------------------------------------------------

#: A site's power program, as the example backend expects one: state in files, every call logged.
OUTLET = """\
import os
import sys
from pathlib import Path

state, node, action = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with (state / "calls").open("a") as log:
    log.write(f"{node} {action} {os.environ.get('CLARA_SECRET', '-')}\\n")
if node.startswith("dead"):
    sys.exit(f"no outlet for {node}")
if node.startswith("busy"):
    print("controller busy", file=sys.stderr)
    sys.exit(75)
if action == "status":
    print((state / node).read_text() if (state / node).exists() else "off")
else:
    (state / node).write_text("off" if action in ("off", "soft") else "on")
"""


@pytest.fixture
def outlet(tmp_path: Path) -> tuple[Path, list[str]]:
    """The state directory of the outlet program, and the program with its first arguments."""
    script = tmp_path / "outlet.py"
    script.write_text(OUTLET, encoding="utf-8")
    state = tmp_path / "outlets"
    state.mkdir()
    return state, [sys.executable, str(script), str(state)]


def test_the_example_plugin_powers_nodes_through_clara(
    run_clara: Run, clara_config: Callable[..., Path], passwd_file: Callable[..., Path],
    outlet: tuple[Path, list[str]], tmp_path: Path,
) -> None:
    state, program = outlet
    command = shlex.join(program) + " {node} {action}"
    statefile = tmp_path / "statefile"
    statefile.mkdir()
    clara_config({
        "common": {"master_passwd_file": passwd_file(PDUPASSWORD="pdu-s3cret")},
        "backends": {"power": "example"},
        "backends:s[1-2]": {"power": "statefile"},  # a mixed fleet: the site plugin's backend for these
        "statefile": {"dir": statefile},
        "example": {"power_command": command, "retries": 1, "backoff": 0.05},
        "example:n3": {"secret": "PDUPASSWORD"},
    })
    on = run_clara("power", "on", "n[1-3],s1")
    assert on.returncode == 0, on.stderr
    assert on.stdout == "n[1-3]: on\ns1: on (statefile)\n"
    assert sorted((state / "calls").read_text().splitlines()) == ["n1 on -", "n2 on -", "n3 on pdu-s3cret"]
    assert (state / "n2").read_text() == "on"

    status = run_clara("power", "status", "n[1-4],dead1,busy1")
    assert status.returncode == 1, status.stderr
    assert status.stdout == ("n[1-3]: on\nn4: off\nbusy1: error: controller busy (exit 75)\n"
                             "dead1: error: no outlet for dead1 (exit 1)\n")
    calls = (state / "calls").read_text().splitlines()
    assert calls.count("busy1 status -") == 2 and calls.count("dead1 status -") == 1  # EX_TEMPFAIL retried once
    assert "pdu-s3cret" not in on.stdout + on.stderr + status.stdout + status.stderr

    shown = run_clara("example", "show", "--action", "reboot", "n3")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"n3: {shlex.join([*program, 'n3', 'reboot'])}\n"
    assert len((state / "calls").read_text().splitlines()) == len(calls)  # show runs nothing

    # `clara example status` asks the registry for "example" whatever [backends] says.
    clara_config({"example": {"power_command": command}})
    status_json = run_clara("example", "n[1-2]", "status", "-o", "json")
    assert status_json.returncode == 0, status_json.stderr
    assert [(r["node"], r["result"]) for r in json.loads(status_json.stdout)] == [("n1", "on"), ("n2", "on")]


def test_the_example_plugin_is_listed_and_declared(run_clara: Run) -> None:
    result = run_clara("plugins", "--json")
    assert result.returncode == 0, result.stderr
    example = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}["example"]
    assert example["distribution"] == "clara-example-plugin" and example["error"] is None
    assert example["backends"] == {"power": ["example"]}
    assert example["hooks"] == ["register_commands", "register_power_backends"]


def test_the_example_backend_fails_the_command_once_for_a_config_mistake(
    run_clara: Run, clara_config: Callable[..., Path], passwd_file: Callable[..., Path], outlet: tuple[Path, list[str]]
) -> None:
    state, program = outlet
    clara_config({"backends": {"power": "example"}, "example": {"power_command": '"unbalanced {node}'}})
    result = run_clara("power", "status", "n[1-100]")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.endswith("[example] power_command: No closing quotation\n"), result.stderr
    clara_config({
        "common": {"master_passwd_file": passwd_file(OTHER="x")},
        "backends": {"power": "example"},
        "example": {"power_command": shlex.join(program) + " {node} {action}", "secret": "PDUPASSWORD"},
    })
    result = run_clara("power", "on", "n[1-2]")
    assert result.returncode == 1 and result.stdout == "" and "PDUPASSWORD" in result.stderr, result.stderr
    assert not (state / "calls").exists()  # nothing ran


# -- the guide's test examples run as written ----------------------------------------------------------


def _guide_test_blocks() -> dict[str, str]:
    """The Python blocks of "Testing a plugin" that define a test, by test name."""
    body = next(body for title, body in sections(PLUGINS_MD.read_text(encoding="utf-8")) if title == "Testing a plugin")
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    return {match.group(1): block for block in blocks if (match := re.search(r"^def (test_\w+)\(", block, re.M))}


def test_the_guides_test_examples_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clara_core.cli.main import cli

    blocks = _guide_test_blocks()
    assert set(blocks) == {"test_show", "test_dispatch"}
    fixtures = {"tmp_path": tmp_path, "monkeypatch": monkeypatch}
    try:
        for name, block in blocks.items():
            namespace: dict[str, Any] = {}
            exec(compile(block, f"docs/plugins.md:{name}", "exec"), namespace)
            test = namespace[name]
            test(**{param: fixtures[param] for param in inspect.signature(test).parameters})
    finally:
        cli.commands.pop("example", None)  # the runner added the plugin's command to the shared root group
