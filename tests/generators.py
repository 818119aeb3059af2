"""Run the real Hexo, Hugo and Jekyll on our fixture sites and read back each post's URL.

Every fixture theme writes `<meta name="searchsvc-source" content="SOURCE" data-url="URL">` into
each page: SOURCE is the file the page came from, URL the link the generator itself gives it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

REPO = Path(__file__).resolve().parent.parent
SITES = Path(__file__).resolve().parent / "sites"
HEXO_MODULES = Path(os.environ.get("SEARCHSVC_HEXO_MODULES", REPO / ".ci" / "hexo" / "node_modules"))
_PROBE = re.compile(r'<meta name="searchsvc-source" content="([^"]*)" data-url="([^"]*)">')


def missing(generator: str) -> str | None:
    """Why this generator cannot run here, or None."""
    if generator == "hexo":
        if not shutil.which("node"):
            return "hexo: node is not installed"
        if not (HEXO_MODULES / "hexo" / "package.json").is_file():
            return f"hexo: not installed at {HEXO_MODULES} (npm install --prefix .ci/hexo, as .ci/run does)"
        return None
    if not shutil.which(generator):
        return f"{generator}: not installed (apt-get install {generator}, as .ci/run does)"
    return None


def copy_site(generator: str, dest: Path, config: dict[str, Any] | None = None) -> Path:
    """A copy of tests/sites/GENERATOR with `config` merged into its configuration file."""
    site = dest / generator
    shutil.copytree(SITES / generator, site)
    if config:
        name = "hugo.toml" if generator == "hugo" else "_config.yml"
        text = (site / name).read_text(encoding="utf-8")
        data = tomllib.loads(text) if generator == "hugo" else yaml.safe_load(text)
        for key, value in config.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        dumped = _toml(data) if generator == "hugo" else yaml.safe_dump(data, allow_unicode=True)
        (site / name).write_text(dumped, encoding="utf-8")
    return site


def _toml(config: dict[str, Any]) -> str:
    """Enough TOML for our Hugo configurations: scalars, lists of strings, one level of tables."""
    lines, tables = [], []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in value.items()))
        else:
            lines.append(f"{key} = {json.dumps(value)}\n")
    return "".join(lines) + "".join(tables)


def build(generator: str, site: Path, timezone: str = "Asia/Shanghai") -> dict[str, str]:
    """Render the site with the real generator; returns {source path: URL, percent-decoded}.
    Hexo and Jekyll show dates in the build machine's zone: we build in the site's own zone."""
    env = {**os.environ, "TZ": timezone}
    out = site / "_out"
    if generator == "hexo":
        (site / "node_modules").symlink_to(HEXO_MODULES)
        command = ["node", str(HEXO_MODULES / "hexo" / "bin" / "hexo"), "generate", "--silent"]
        out = site / "public"
    elif generator == "hugo":
        command = ["hugo", "--quiet", "--destination", str(out)]
    else:
        command = ["jekyll", "build", "--quiet", "--destination", str(out)]
    subprocess.run(command, cwd=site, env=env, check=True, capture_output=True, timeout=120)
    found: dict[str, str] = {}
    for page in out.rglob("*"):
        if page.is_file():
            for source, url in _PROBE.findall(page.read_text(encoding="utf-8", errors="replace")):
                if source:
                    found[source] = unquote(url)
    return found
