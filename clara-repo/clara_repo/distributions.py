"""Reading and writing reprepro's ``conf/distributions`` one stanza per distribution."""

from __future__ import annotations

from pathlib import Path

from clara_repo.settings import RepoSettings


def stanzas(text: str) -> list[str]:
    """The blank-line separated stanzas of a ``conf/distributions`` text."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def codename(stanza: str) -> str | None:
    """The ``Codename:`` of a stanza."""
    for line in stanza.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "codename":
            return value.strip()
    return None


def conf_file(settings: RepoSettings) -> Path:
    """``<repo_dir>/conf/distributions``."""
    return settings.repo_dir / "conf" / "distributions"


def has_dist(settings: RepoSettings) -> bool:
    """Whether ``clara repo init`` was run for this distribution."""
    path = conf_file(settings)
    if not path.is_file():
        return False
    return any(codename(s) == settings.dist for s in stanzas(path.read_text(encoding="utf-8")))


def render(settings: RepoSettings) -> str:
    """The stanza of a distribution, from the seed's keys."""
    lines = [
        f"Origin: {settings.origin}",
        f"Label: {settings.dist}",
        f"Suite: {settings.dist}",
        f"Codename: {settings.dist}",
    ]
    if settings.version:
        lines.append(f"Version: {settings.version}")
    lines += [
        f"Architectures: {settings.architectures}",
        f"Components: {settings.components}",
    ]
    if settings.udeb_components:
        lines.append(f"UDebComponents: {settings.udeb_components}")
    if settings.gpg_key:
        lines.append(f"SignWith: {settings.gpg_key}")
    lines += [
        f"Description: Depot Local {settings.clustername}",
        "DebIndices: Packages Release . .gz",
        "DscIndices: Sources Release . .gz",
    ]
    return "\n".join(lines)


def with_dist(text: str, settings: RepoSettings) -> str:
    """``text`` with the distribution's stanza added or replaced."""
    new = render(settings)
    blocks = [new if codename(s) == settings.dist else s for s in stanzas(text)]
    if new not in blocks:
        blocks.append(new)
    return "\n\n".join(blocks) + "\n"
