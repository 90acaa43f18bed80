"""A real, throwaway MediaWiki (Debian's `mediawiki` 1.39 on SQLite) on 127.0.0.1.

`lwt wiki up` installs it in a folder of its own (the package's config is untouched),
creates the fixture's editors with their groups and registration dates, imports the
dumps, hides the text of the revisions the manifests mark `hidden_text` (revision
deletion), sets page properties, and serves `api.php` until stopped: through Debian's
nginx and PHP-FPM (a production-like web server: keep-alive, a pool of PHP workers), or
with `server="builtin"` through PHP's development server (`php -S`). The manifest maps
each fixture revision's role (`good_edit`, `vandalism_badwords`, ...) to its revision id.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import yaml

from exporters.contract.events import fields
from exporters.contract.layout import atomic_write
from lwt.stack.process import ManagedProcess, ServerError, http_ok

log = logging.getLogger(__name__)

MEDIAWIKI = Path("/usr/share/mediawiki")
FIXTURES = Path(__file__).parent / "fixture"
FIXTURE = FIXTURES / "enwiki-fixture.xml"  # the edit-quality revisions; other dumps add pages beside it
PASSWORD = "LongPassword-123"
DELETED_TEXT = 1  # RevisionRecord::DELETED_TEXT
# Interwiki prefixes that make `[[fr:Tour Eiffel]]` an interlanguage link; all point at this
# wiki, where the fixture keeps every language's pages (descriptions.xml).
INTERLANGUAGE = ("de", "en", "es", "fr", "it", "nl")


class WikiError(ServerError):
    """The local wiki could not be set up or started."""

    kind = "WikiError"


def fixture_dumps() -> list[Path]:
    """Every shipped fixture dump (each with its own manifest): the edit-quality one first,
    so its revisions keep the ids the README's examples use, then the others by name."""
    return [FIXTURE, *sorted(p for p in FIXTURES.glob("*.xml") if p != FIXTURE)]


def manifest_for(dump: Path) -> dict[str, Any]:
    """The `.yaml` beside a dump: users to create, revision roles, page properties."""
    path = dump.with_suffix(".yaml")
    found = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return {"users": found.get("users") or [], "revisions": found.get("revisions") or [],
            "page_props": found.get("page_props") or []}


def merged_manifest(dumps: list[Path]) -> dict[str, Any]:
    merged: dict[str, Any] = {"users": [], "revisions": [], "page_props": []}
    for dump in dumps:
        for key, items in manifest_for(dump).items():
            merged[key].extend(i for i in items if key != "users" or i["name"] not in {u["name"] for u in merged[key]})
    return merged


class _Process(ManagedProcess):
    """php-fpm, nginx or `php -S`: one process of the wiki, started and stopped by LocalWiki."""

    error = WikiError
    start_timeout = 30.0

    def __init__(self, name: str, command: list[str], log_path: Path, ports: dict[str, int],
                 env: dict[str, str], ready: Any = None) -> None:
        super().__init__(log_path, ports, cwd=MEDIAWIKI)
        self.name = name
        self._command, self._env, self._ready = command, env, ready

    def command(self) -> list[str]:
        return self._command

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self._env}

    def ready(self) -> bool:
        return self._ready() if self._ready is not None else True


def _fpm_conf(folder: Path, settings: Path, workers: int) -> str:
    return f"""[global]
pid = {folder / 'php-fpm.pid'}
error_log = {folder / 'php-fpm.log'}
daemonize = no

[wiki]
user = root
listen = {folder / 'php-fpm.sock'}
listen.mode = 0666
pm = static
pm.max_children = {workers}
clear_env = no
env[MW_CONFIG_FILE] = {settings}
catch_workers_output = yes
"""


def _nginx_conf(folder: Path, port: int) -> str:
    temp = folder / "nginx-temp"
    return f"""worker_processes 1;
user root;
pid {folder / 'nginx.pid'};
error_log {folder / 'nginx-error.log'} warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    fastcgi_temp_path {temp}/fastcgi;
    proxy_temp_path {temp}/proxy;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {MEDIAWIKI};
        location ~ \\.php$ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_keep_conn on;
            fastcgi_pass unix:{folder / 'php-fpm.sock'};
        }}
    }}
}}
"""


class LocalWiki:
    """The wiki's processes, started and stopped as one (restartable: installed once)."""

    name = "the local MediaWiki"

    def __init__(self, folder: Path, port: int, dumps: list[Path] | Path | None = None,
                 server: str = "nginx", php_workers: int = 4) -> None:
        if server not in ("nginx", "builtin"):
            raise WikiError(f"unknown wiki server {server!r} (nginx or builtin)")
        self.folder = Path(folder).resolve()
        self.port = port
        self.server = server
        self.php_workers = php_workers
        chosen = fixture_dumps() if dumps is None else ([dumps] if isinstance(dumps, Path) else list(dumps))
        self.dumps = [Path(d).resolve() for d in chosen]
        self.manifest = merged_manifest(self.dumps)
        self.processes: list[_Process] = []

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api.php"

    @property
    def settings(self) -> Path:
        return self.folder / "LocalSettings.php"

    def _api_ready(self) -> bool:
        return http_ok(f"{self.api_url}?action=query&meta=siteinfo&format=json")

    def _plan(self) -> list[_Process]:
        env = {"MW_CONFIG_FILE": str(self.settings)}
        if self.server == "builtin":
            return [_Process("php -S", ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(MEDIAWIKI)],
                             self.folder / "php.log", {"http": self.port},
                             {**env, "PHP_CLI_SERVER_WORKERS": str(self.php_workers)}, self._api_ready)]
        for tool in ("/usr/sbin/nginx", "/usr/sbin/php-fpm8.2"):
            if not Path(tool).exists():
                raise WikiError(f"{tool} is missing: install Debian's nginx-light and php-fpm (make setup does), "
                                "or serve with the builtin server")
        (self.folder / "nginx-temp").mkdir(exist_ok=True)
        (self.folder / "php-fpm.conf").write_text(_fpm_conf(self.folder, self.settings, self.php_workers))
        (self.folder / "nginx.conf").write_text(_nginx_conf(self.folder, self.port))
        socket = self.folder / "php-fpm.sock"
        return [
            _Process("php-fpm", ["/usr/sbin/php-fpm8.2", "--nodaemonize", "--allow-to-run-as-root",
                                 "--fpm-config", str(self.folder / "php-fpm.conf")],
                     self.folder / "php-fpm.out", {}, env, socket.exists),
            _Process("nginx", ["/usr/sbin/nginx", "-c", str(self.folder / "nginx.conf"), "-g", "daemon off;"],
                     self.folder / "nginx.out", {"http": self.port}, {}, self._api_ready),
        ]

    def start(self, timeout: float = 30.0) -> "LocalWiki":
        self.folder.mkdir(parents=True, exist_ok=True)
        if not ((self.folder / "revisions.json").is_file() and self.settings.is_file()):
            if self.settings.is_file():  # an install that was interrupted: `revisions.json` is written last
                log.warning("an unfinished install is replaced", extra=fields(folder=str(self.folder)))
                self.settings.unlink()
                shutil.rmtree(self.folder / "db", ignore_errors=True)
            self.install()  # a restart serves the installed wiki again
            # the mark of a finished install: whole or absent
            atomic_write(self.folder / "revisions.json", json.dumps(self.revision_ids(), indent=2))
        (self.folder / "php-fpm.sock").unlink(missing_ok=True)
        self.processes = self._plan()
        try:
            for process in self.processes:
                process.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self) -> bool:
        return bool(self.processes) and all(p.alive() for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> "LocalWiki":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _php(self, *args: str) -> str:
        env = {**os.environ, "MW_CONFIG_FILE": str(self.settings)}
        result = subprocess.run(["php", *args], cwd=MEDIAWIKI, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise WikiError(f"php {args[0]} failed: {lines[-1] if lines else result.returncode}")
        return result.stdout

    def install(self) -> None:
        if not (MEDIAWIKI / "maintenance" / "install.php").is_file():
            raise WikiError("Debian's mediawiki package is not installed (make setup installs it)")
        missing = [d for d in self.dumps if not d.is_file()]
        if missing or not self.dumps:
            raise WikiError(f"{missing[0] if missing else 'no dump'}: no such dump file")
        if self.settings.exists():
            raise WikiError(f"{self.folder} already holds a wiki; use an empty folder")
        (self.folder / "db").mkdir(parents=True, exist_ok=True)
        self._php("maintenance/install.php", "--dbtype", "sqlite", "--dbpath", str(self.folder / "db"),
                  "--dbname", "wiki", "--server", f"http://127.0.0.1:{self.port}", "--scriptpath", "",
                  "--confpath", str(self.folder), "--pass", PASSWORD, "--lang", "en", "TestWiki", "Admin")
        self._interlanguage_prefixes()  # before the import: links are parsed with them
        with open(self.settings, "a") as settings:
            settings.write("\n$wgRateLimits = [];\n$wgMainCacheType = CACHE_NONE;\n$wgShowExceptionDetails = false;\n")
        for user in self.manifest.get("users", []):
            flags = [f"--{g}" for g in user.get("groups", []) if g in ("bot", "sysop")]
            self._php("maintenance/createAndPromote.php", *flags, user["name"], PASSWORD)
        for dump in self.dumps:
            self._php("maintenance/importDump.php", "--no-updates", str(dump))
        # Links, categories and interlanguage links (the outlink and description models read them).
        for script in ("refreshLinks.php", "rebuildrecentchanges.php", "initSiteStats.php", "initEditCount.php"):
            self._php(f"maintenance/{script}")
        self._fix_database()

    def _interlanguage_prefixes(self) -> None:
        db = sqlite3.connect(self.folder / "db" / "wiki.sqlite")
        try:
            for prefix in INTERLANGUAGE:
                db.execute("INSERT OR REPLACE INTO interwiki (iw_prefix, iw_url, iw_api, iw_wikiid, iw_local, iw_trans) "
                           "VALUES (?, ?, ?, ?, 1, 0)", (prefix, f"http://127.0.0.1:{self.port}/index.php?title=$1",
                                                         self.api_url, f"{prefix}wiki"))
            db.commit()
        finally:
            db.close()

    def _fix_database(self) -> None:
        """Registration dates from the manifest; revision deletion for `hidden_text`; page
        properties a Wikibase client would set (`wikibase_item`), which no dump carries."""
        db = sqlite3.connect(self.folder / "db" / "wiki.sqlite")
        try:
            for user in self.manifest.get("users", []):
                db.execute("UPDATE user SET user_registration = ? WHERE user_name = ?",
                           (user["registration"], user["name"]))
            for role, rev_id in self.revision_ids(db).items():
                if role.startswith("hidden_text"):
                    db.execute("UPDATE revision SET rev_deleted = ? WHERE rev_id = ?", (DELETED_TEXT, rev_id))
            for item in self.manifest.get("page_props", []):
                row = db.execute("SELECT page_id FROM page WHERE page_namespace = 0 AND page_title = ?",
                                 (item["title"].replace(" ", "_"),)).fetchone()
                if row is None:
                    raise WikiError(f"page_props: no page {item['title']!r} in the dumps")
                for name, value in item["props"].items():
                    db.execute("INSERT OR REPLACE INTO page_props (pp_page, pp_propname, pp_value, pp_sortkey) "
                               "VALUES (?, ?, ?, NULL)", (row[0], name, str(value)))
            db.commit()
        finally:
            db.close()

    def revision_ids(self, db: sqlite3.Connection | None = None) -> dict[str, int]:
        """`{role: rev_id}` (role made unique per page as `role@Title` when repeated)."""
        own = db is None
        db = db or sqlite3.connect(self.folder / "db" / "wiki.sqlite")
        try:
            found: dict[str, int] = {}
            for item in self.manifest.get("revisions", []):
                namespace, _, title = item["title"].partition(":") if item["title"].startswith("User:") else ("", "", item["title"])
                ns = 2 if namespace == "User" else 0
                rows = db.execute(
                    "SELECT rev_id FROM revision JOIN page ON rev_page = page_id "
                    "WHERE page_namespace = ? AND page_title = ? ORDER BY rev_timestamp, rev_id",
                    (ns, title.replace(" ", "_")),
                ).fetchall()
                key = item["role"] if item["role"] not in found else f"{item['role']}@{item['title']}"
                found[key] = int(rows[item["index"]][0])
            return found
        finally:
            if own:
                db.close()
