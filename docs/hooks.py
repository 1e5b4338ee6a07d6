"""MkDocs hook: the pages link to repository files outside docs/ (results/, configs/, scripts/) by
relative paths that work on GitHub (``../results/x.png``). For the site, those files are added under
``repo/`` and the links rewritten to them, so figures render and links resolve under --strict."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

_SHARED = ("results", "configs", "scripts")
_SUFFIXES = {".png", ".json", ".md", ".txt", ".yaml", ".sh", ".csv"}
_FOLDERS = "|".join(_SHARED)
_LINK = re.compile(rf"\]\((?P<up>(?:\.\./)+)(?P<path>(?:{_FOLDERS})/[^)\s]*)\)")


def on_files(files: Files, config) -> Files:
    root = Path(config["docs_dir"]).parent
    for folder in _SHARED:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in _SUFFIXES and "runs" not in path.parts:
                uri = f"repo/{path.relative_to(root).as_posix()}"
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    depth = page.file.src_uri.count("/")

    def rewrite(match: re.Match) -> str:
        path = match.group("path").rstrip("/")
        if not (Path(config["docs_dir"]).parent / path).exists():
            return match.group(0)
        return f"]({'../' * depth}repo/{path})"

    return _LINK.sub(rewrite, markdown)
