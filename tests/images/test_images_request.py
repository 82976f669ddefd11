"""The ``image_builder`` boundary: the BootstrapRequest made from ``[images]``/``[chroot]``, the
configured backend that receives it, and the built-in builders' command lines and cache (fast)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from clara_images import images
from clara_images.bootstrap import DebootstrapBuilder, MmdebstrapBuilder
from clara_images.settings import load_settings

from clara_core import hookimpl
from clara_core.config import Config
from clara_core.context import Context
from clara_core.errors import ClaraError
from clara_core.plugins import PluginManager
from clara_core.protocols import BootstrapRequest, ImageBuilderBackend
from clara_core.registry import Register

SECTIONS: dict[str, dict[str, object]] = {
    "common": {"allowed_distributions": "calibre9,bookworm"},
    "images": {
        "debiandist": "bookworm",
        "debmirror": "http://mirror.example/debian",
        "variant": "minbase",
        "gpg_check": "false",
        "bootstrap_cache": "/var/cache/clara",
        "hosts": "n1,n2",
        "mysite_layer": "base",
    },
    "images-calibre9": {
        "debiandist": "trixie",
        "gpg_check": "true",
        "gpg_keyring": "/etc/k.gpg",
        "mysite_layer": "hpc",
    },
}


def test_request_from_settings() -> None:
    """suite/mirror/variant/gpg/cache come from the section after overrides; options hold every key."""
    config = Config.from_dict(SECTIONS)
    request = images.bootstrap_request(load_settings(config, "images", "calibre9"))
    assert request == BootstrapRequest(
        section="images",
        dist="calibre9",
        suite="trixie",
        mirror="http://mirror.example/debian",
        variant="minbase",
        gpg_check=True,
        gpg_keyring="/etc/k.gpg",
        cache_dir="/var/cache/clara",
        options=request.options,
    )
    assert request.options["mysite_layer"] == "hpc" and request.options["hosts"] == "n1,n2"
    assert request.options["debiandist"] == "trixie" and request.options["gpg_check"] == "true"
    plain = images.bootstrap_request(load_settings(config, "images", "bookworm"))
    assert (plain.suite, plain.gpg_check, plain.gpg_keyring, plain.options["mysite_layer"]) == (
        "bookworm",
        False,
        "",
        "base",
    )


class Recorder:
    """A third-party image builder: honours the protocol only, records what it is asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[BootstrapRequest, Path]] = []

    def bootstrap(self, request: BootstrapRequest, target: Path) -> None:
        """Record the call."""
        self.calls.append((request, target))


def test_configured_backend_gets_the_request(tmp_path: Path) -> None:
    """``[backends] image_builder`` picks the backend images.bootstrap calls, through the registry."""
    recorder = Recorder()

    def make(_ctx: Context) -> Recorder:
        return recorder

    @hookimpl
    def register_image_builder_backends(register: Register[ImageBuilderBackend]) -> None:
        register("recorder", make, "TEST DOUBLE")

    plugins = PluginManager()
    plugins.add_plugin(
        types.SimpleNamespace(register_image_builder_backends=register_image_builder_backends), "recorder-site"
    )
    config = Config.from_dict({**SECTIONS, "backends": {"image_builder": "recorder"}})
    ctx = Context(config=config, plugins=plugins)
    settings = load_settings(config, "images", "calibre9")
    images.bootstrap(ctx, settings, tmp_path / "root")
    assert recorder.calls == [(images.bootstrap_request(settings), tmp_path / "root")]


def test_builders_command_lines() -> None:
    """debootstrap and mmdebstrap command lines from the request."""
    request = BootstrapRequest(
        section="images",
        dist="d",
        suite="bookworm",
        mirror="http://m/debian",
        variant="minbase",
        gpg_check=True,
        gpg_keyring="/k.gpg",
    )
    ctx = Context(config=Config.from_dict(SECTIONS), plugins=PluginManager())
    assert DebootstrapBuilder(ctx).command(request, Path("/t")) == [
        "debootstrap",
        "--variant=minbase",
        "--keyring=/k.gpg",
        "bookworm",
        "/t",
        "http://m/debian",
    ]
    insecure = BootstrapRequest(section="images", dist="d", suite="bookworm", mirror="http://m/debian", gpg_check=False)
    line = MmdebstrapBuilder(ctx).command(insecure, Path("/t"))
    assert line[0] == "mmdebstrap" and line[-3:] == ["bookworm", "/t", "http://m/debian"]
    assert '--aptopt=APT::Get::AllowUnauthenticated "true"' in line
    assert DebootstrapBuilder(ctx).command(insecure, Path("/t"))[1] == "--no-check-gpg"


def test_cache_keyed_on_the_request(tmp_path: Path) -> None:
    """The cache tarball follows what shapes the tree, not the section's other keys."""
    ctx = Context(config=Config.from_dict(SECTIONS), plugins=PluginManager())
    builder = MmdebstrapBuilder(ctx)
    base = BootstrapRequest(
        section="images",
        dist="d",
        suite="bookworm",
        mirror="http://m/debian",
        cache_dir=str(tmp_path),
        options={"hosts": "n1"},
    )
    same = BootstrapRequest(
        section="chroot",
        dist="e",
        suite="bookworm",
        mirror="http://m/debian",
        cache_dir=str(tmp_path),
        options={"hosts": "n2"},
    )
    other = BootstrapRequest(
        section="images",
        dist="d",
        suite="bookworm",
        mirror="http://m/debian",
        variant="minbase",
        cache_dir=str(tmp_path),
    )
    cache = builder.cache_file(base)
    assert cache is not None and cache.parent == tmp_path and cache.name.startswith("mmdebstrap-bookworm-")
    assert builder.cache_file(same) == cache and builder.cache_file(other) != cache
    assert builder.cache_file(BootstrapRequest(section="images", dist="d", suite="s", mirror="m")) is None


def test_missing_mirror_and_non_empty_target(tmp_path: Path) -> None:
    """Refused before anything runs: no mirror, or a target that is not empty."""
    builder = DebootstrapBuilder(Context(config=Config.from_dict(SECTIONS), plugins=PluginManager()))
    with pytest.raises(ClaraError, match=r"\[chroot\] debmirror: missing"):
        builder.bootstrap(BootstrapRequest(section="chroot", dist="d", suite="s", mirror=""), tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b/file").write_text("x")
    with pytest.raises(ClaraError, match="not empty"):
        builder.bootstrap(BootstrapRequest(section="images", dist="d", suite="s", mirror="m"), tmp_path / "b")
