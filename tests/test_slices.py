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
