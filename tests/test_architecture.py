"""Architecture rules as checks: the dependency rule and the tenant choke point."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "mosaic"
PLATFORM = ("core", "identity", "authz", "events", "scheduling", "models", "migrations")
DOMAIN = (
    "legacies",
    "stories",
    "media",
    "privacy",
    "notifications",
    "graph",
    "sources",
    "search",
    "ai",
    "realtime",
    "plugins",
    "publishing",
)


def _modules(package: str) -> Iterator[Path]:
    root = SOURCE / package
    if root.is_dir():
        yield from sorted(root.rglob("*.py"))


def _imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _is_domain_module(module: str) -> bool:
    parts = module.split(".")
    return len(parts) >= 2 and parts[0] == "mosaic" and parts[1] in DOMAIN


def _calls_to(name: str) -> Iterator[tuple[Path, int]]:
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                called = node.func
                called_name = (
                    called.attr
                    if isinstance(called, ast.Attribute)
                    else getattr(called, "id", None)
                )
                if called_name == name:
                    yield path.relative_to(SOURCE), node.lineno


@pytest.mark.parametrize("package", PLATFORM)
def test_platform_modules_never_import_domain_modules(package: str) -> None:
    offenders = [
        f"{path.relative_to(SOURCE)} imports {module}"
        for path in _modules(package)
        for module in _imported_modules(path)
        if _is_domain_module(module)
    ]

    assert offenders == []


def _enclosing_functions(path: Path, name: str) -> list[str]:
    """The functions of ``path`` that call ``name``."""
    return [
        function
        for function, node in _function_nodes(path)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name
    ]


def _functions_using(path: Path, name: str) -> list[str]:
    """The functions of ``path`` that read the name ``name`` (a module constant)."""
    return [
        function
        for function, node in _function_nodes(path)
        if isinstance(node, ast.Name) and node.id == name
    ]


def _function_nodes(path: Path) -> Iterator[tuple[str, ast.AST]]:
    for function in ast.walk(ast.parse((SOURCE / path).read_text())):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from ((function.name, node) for node in ast.walk(function))


def test_requests_bind_their_tenant_in_the_authentication_dependencies_only() -> None:
    calls = list(_calls_to("bind_tenant"))

    # The event worker binds each event's tenant with a statement of its own (checked below).
    assert sorted({str(path) for path, _ in calls}) == ["identity/dependencies.py"]
    # Authentication binds the credential's tenant; accepting an invitation (the one request
    # that joins another tenant) binds the tenant its verified token names. Nothing else.
    assert sorted(_enclosing_functions(Path("identity/dependencies.py"), "bind_tenant")) == [
        "_authenticate",
        "_invitation_to_accept",
    ]


def test_only_the_database_module_and_the_event_worker_set_the_tenant_setting() -> None:
    calls = [str(path) for path, _ in _calls_to("set_config")]
    in_sql = sorted(
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if "set_config" in path.read_text()
    )

    assert calls == ["core/database.py"]
    assert in_sql == ["core/database.py", "events/worker.py"]
    # The worker's one choke point: the statement that binds an event's tenant together with
    # its processed_events proof, executed in one function, before the handler runs.
    assert _functions_using(Path("events/worker.py"), "_BIND_AND_PROVE") == ["_apply"]


def test_the_rule_detects_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "offender.py"
    module.write_text("from mosaic.stories.service import create_story\n")

    assert any(_is_domain_module(name) for name in _imported_modules(module))


def test_dependencies_are_async_so_none_runs_in_a_worker_thread() -> None:
    # FastAPI runs a plain ``def`` dependency in a thread pool: a hop per request per
    # dependency that costs more than most of them do. Dependencies are declared in the module
    # that wraps them in ``Depends``, so each module is checked on its own.
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        sync = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        offenders += [
            f"{path.relative_to(SOURCE)}: {argument.id}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Depends"
            for argument in node.args[:1]
            if isinstance(argument, ast.Name) and argument.id in sync
        ]

    assert offenders == []
