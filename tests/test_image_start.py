"""What the image does at start, without a Docker engine: the production lock installs on
its own and the app starts from it as an unprivileged user on a read-only source tree."""

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from dashboard.embedded_redis import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["calls", "catapult_sim", "dashboard", "templates", "static", "manage.py"]


def _as_nobody() -> list[str]:
    """Run as `nobody`. The interpreter of this machine may live under root's home (pyenv),
    which nobody cannot read: the process keeps the right to *read* any file
    (CAP_DAC_READ_SEARCH), and nothing more, so every write is still nobody's."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop to an unprivileged user")
    return [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "--",
    ]


@pytest.fixture(scope="module")
def prod_venv(tmp_path_factory):
    """A fresh venv with requirements/prod.txt alone (hash-checked, no dependencies added)."""
    if os.environ.get("SKIP_IMAGE_TESTS"):
        pytest.skip("SKIP_IMAGE_TESTS is set")
    venv = tmp_path_factory.mktemp("prod") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(ROOT / "requirements/prod.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 and "Could not find" in result.stderr + result.stdout:
        pytest.skip("the package index is not reachable")
    assert result.returncode == 0, result.stderr[-2000:]
    return venv


def test_the_app_starts_read_only_as_nobody_from_the_production_lock(prod_venv, tmp_path):
    drop = _as_nobody()
    tree = tmp_path / "app"
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        target = tree / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    state = tmp_path / "data"
    state.mkdir()
    os.chown(state, 65534, 65534)  # nobody's own, as /data is in the image
    static = tree / "staticfiles"
    env = {
        "PATH": f"{prod_venv / 'bin'}:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "SECRET_KEY": "x" * 50,
        "CALLBACK_PASSWORD": "build-only",
        "STATE_DIR": str(state),
        "STATIC_ROOT": str(static),
        "DATABASE_URL": f"sqlite:///{state / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    python = str(prod_venv / "bin/python")
    # The build step (as root, before the tree is made read-only), as in the Dockerfile.
    subprocess.run(
        [python, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=tree, env=env, check=True
    )
    subprocess.run(["chmod", "-R", "a-w", str(tree)], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(tmp_path), str(prod_venv)], check=True)
    os.chmod(tmp_path, 0o755)
    migrate = subprocess.run(
        [*drop, python, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    port = free_port()
    server = subprocess.Popen(
        [*drop, python, "-m", "uvicorn", "dashboard.asgi:application", "--port", str(port)],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for_port(port, 30, process=server), (
            server.stdout.read() if server.poll() else ""
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=10) as reply:
            assert reply.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as reply:
            page = reply.read().decode()
        # Static files by their hashed names, as collectstatic wrote them.
        css = next(part for part in page.split('"') if part.startswith("/static/css/app."))
        assert css != "/static/css/app.css"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{css}", timeout=10) as reply:
            assert "max-age=315360000" in reply.headers.get("Cache-Control", "")
    finally:
        server.terminate()
        server.wait(10)
    assert not list(tree.rglob("*.pyc"))  # nothing was written into the tree
    assert not (tree / ".state").exists()
