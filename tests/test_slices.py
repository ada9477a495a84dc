"""Every slice is declared once, in the registry, and every architecture contract covers all of it."""

import tomllib
from pathlib import Path

from magnetiq import registry
from magnetiq.app import OPENAPI_TAGS, PERIODIC_JOBS, ROUTERS, create_app

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = sorted(path.parent.name for path in (ROOT / "features").glob("*/__init__.py"))
CONTRACTS = {c["name"]: c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}


def _contract(type_: str) -> dict:
    [contract] = [c for c in CONTRACTS.values() if c["type"] == type_]
    return contract


def test_every_folder_under_features_is_a_declared_slice():
    assert sorted(registry.SLICE_NAMES) == FOLDERS
    assert [slice_.name for slice_ in registry.SLICES] == list(registry.SLICE_NAMES)


def test_the_shell_mounts_what_the_slices_declare():
    for slice_ in registry.SLICES:
        assert all(router in ROUTERS for router in slice_.routers), slice_.name
        assert all(job in PERIODIC_JOBS for job in slice_.jobs), slice_.name
        assert all(tag in OPENAPI_TAGS for tag in slice_.openapi_tags), slice_.name
    tags_in_use = {tag for router in ROUTERS for tag in router.tags}
    assert tags_in_use <= {tag["name"] for tag in OPENAPI_TAGS}  # every tag described, one place each


def test_the_independence_and_layers_contracts_name_every_slice():
    slices = {f"features.{name}" for name in FOLDERS}
    assert set(_contract("independence")["modules"]) == slices
    assert set(_contract("layers")["containers"]) == slices


def test_the_layers_contract_places_every_module_of_every_slice():
    layered = {
        name.strip().strip("()")
        for layer in _contract("layers")["layers"] for name in layer.replace("|", ":").split(":")
    }
    unplaced = sorted(
        f"{path.parent.name}.{path.stem}"
        for path in (ROOT / "features").glob("*/*.py")
        if path.stem != "__init__" and path.stem not in layered
    )
    assert unplaced == [], "add these modules to a layer of the layers contract in pyproject.toml"


def test_a_slice_middleware_is_mounted(settings):
    app = create_app(settings)
    mounted = {middleware.cls for middleware in app.user_middleware}
    assert all(cls in mounted for slice_ in registry.SLICES for cls in slice_.middleware)


# Callbacks whose caller passes positions by protocol, and the kernel's statement helpers.
POSITIONAL_BY_PROTOCOL = {
    "_load", "_load_opt_in", "_load_confirmation", "_load_cancellation",  # mail loaders: (session, settings, params, served)
    "__call__", "_refuse_flushed_writes", "_through_session",  # a loader's protocol; a SQLAlchemy event
    "fetchall", "execute", "executemany", "defer",  # DriverStatement: (session, values), like the driver's own
    "insert_or_update", "serialize_on", "delete_batch",  # statement builders: (session, table | key | model, *where)
    "capture_lead",  # (session, bus, *, source, visitor): the bus goes with the session, as publish(event, session)
}


def test_functions_taking_a_session_take_the_rest_by_keyword():
    """STYLE.md: session first, keyword-only after it, so a call reads as what it passes."""
    import ast

    offenders = []
    for path in [*(ROOT / "features").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]:
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in POSITIONAL_BY_PROTOCOL:
                names = [a.arg for a in node.args.posonlyargs + node.args.args]
                names = names[1:] if names[:1] in (["self"], ["cls"]) else names
                if names[:1] == ["session"] and len(names) > 1 and not node.decorator_list:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert offenders == []
