"""Theme files (TOML) → textual Theme objects; a broken file is reported, never fatal."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

import lakeconsole

_FIELDS = {f.name for f in fields(Theme)}


def theme_dirs() -> list[Path]:
    """The repo's `themes/` folder, else the copy installed inside the package."""
    package = Path(lakeconsole.__file__).parent
    return [d for d in (package.parent / "themes", package / "_themes") if d.is_dir()][:1]


def load_theme(path: Path) -> Theme:
    """One theme file; ValueError saying what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {', '.join(sorted(unknown))}")
    data.setdefault("name", path.stem)
    if "primary" not in data:
        raise ValueError(f"{path.name}: 'primary' colour is required")
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()
    except Exception as exc:  # bad colour strings surface as various errors
        raise ValueError(f"{path.name}: {exc}") from exc
    return theme


def load_themes(dirs: list[Path] | None = None) -> tuple[list[Theme], list[str]]:
    """Every `*.toml` theme in the folders, and one warning per broken file."""
    themes: list[Theme] = []
    warnings: list[str] = []
    for folder in theme_dirs() if dirs is None else dirs:
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(load_theme(path))
            except ValueError as exc:
                warnings.append(f"theme {exc}")
    return themes, warnings
