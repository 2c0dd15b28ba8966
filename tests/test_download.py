"""Tests of reco.data's download: a local HTTP server serves zips built by the tests.

Nothing leaves 127.0.0.1: a guard fails any test whose requests (pooch's HTTP
client) ask for another host or a proxy. Each failure case checks the error and
that the data home holds no data set and no ``.ml-test-download-*`` folder.
ml-25m and ml-32m are tested with their real specs, pointed at the local server
and pinned by the MD5 of small zips in their layouts.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import http.server
import io
import multiprocessing
import os
import signal
import socket
import threading
import time
import urllib.parse
import zipfile

import pandas as pd
import pooch
import pytest
import requests.adapters
from synthetic import (
    build_zip,
    file_hashes,
    make_movies,
    make_ratings,
    write_ml_25m,
    write_ml_32m,
    write_ml_latest,
)

import reco.data
from reco.data import (
    DATASETS,
    DataError,
    DatasetSpec,
    download,
    find_dataset,
    load_movies,
    load_ratings,
)

NAME = "ml-test"
LOCK = f".{NAME}.lock"  # the lock file a failed or interrupted download may leave
fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(autouse=True)
def isolated_homes(tmp_path, monkeypatch):
    """Point every data home at tmp_path; let requests reach 127.0.0.1 only, without proxy."""
    monkeypatch.setenv("RECO_DATA_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setattr(reco.data, "_VERIFIED", {})
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setenv("NO_PROXY", "*")
    real_send = requests.adapters.HTTPAdapter.send

    def local_only(self, request, *args, **kwargs):
        host = urllib.parse.urlsplit(request.url).hostname
        assert host == "127.0.0.1" and not any((kwargs.get("proxies") or {}).values()), (
            f"test tried to reach {request.url}"
        )
        return real_send(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", local_only)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
        elif callable(route):
            route(self)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(route)))
            self.end_headers()
            self.wfile.write(route)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    """A local HTTP server; ``server.serve(path, bytes or handler)`` returns its URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.hits = {}, []
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}{path}"

    def serve(path, body):
        httpd.routes[path] = body
        return httpd.url(path)

    httpd.serve = serve
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def source(tmp_path):
    """A synthetic data set folder named ml-test (outside every data home) and its zip."""
    ratings = make_ratings(n_users=10, n_movies=15, seed=4)
    movies = make_movies(ratings["movieId"].unique())
    folder = write_ml_latest(tmp_path / "source" / NAME, ratings, movies)
    return folder, ratings, build_zip(folder)


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "data-home"
    path.mkdir()
    return path


def _spec(url: str, archive: bytes, folder) -> DatasetSpec:
    return DatasetSpec(
        name=NAME,
        url=url,
        archive_sha256=hashlib.sha256(archive).hexdigest(),
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files=file_hashes(folder),
    )


def _leftovers(home, name=NAME) -> list[str]:
    """What a failed download left in the data home, besides its empty lock file."""
    lock = home / f".{name}.lock"
    assert not lock.exists() or lock.stat().st_size == 0
    return sorted(p.name for p in home.iterdir() if p != lock)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/{NAME}.zip"


# --------------------------------------------------------------------------- success


def test_download_creates_the_home_and_places_the_exact_files(server, source, tmp_path):
    folder, ratings, archive = source
    home = tmp_path / "new" / "home"
    spec = _spec(server.serve("/ml-test.zip", archive), archive, folder)

    assert download(spec, home, progress=False) == home / NAME

    assert sorted(p.name for p in home.iterdir()) == [NAME]  # no temp folder, no lock file
    for path in folder.iterdir():
        assert (home / NAME / path.name).read_bytes() == path.read_bytes()
    assert sorted(p.name for p in (home / NAME).iterdir()) == sorted(file_hashes(folder))


def test_load_ratings_downloads_once_into_the_first_home(
    server, source, home, tmp_path, monkeypatch
):
    folder, ratings, archive = source
    monkeypatch.setitem(DATASETS, NAME, _spec(server.serve("/z.zip", archive), archive, folder))
    pd.testing.assert_frame_equal(load_ratings(NAME, data_home=home), ratings)
    pd.testing.assert_frame_equal(load_ratings(NAME, data_home=home), ratings)
    assert server.hits == ["/z.zip"]
    assert sorted(p.name for p in home.iterdir()) == [NAME]
    assert not (tmp_path / "env-home").exists() and not (tmp_path / "xdg-cache").exists()


def test_download_returns_a_complete_folder_untouched_and_refuses_a_partial_one(
    server, source, home
):
    folder, _, archive = source
    spec = _spec(server.serve("/a.zip", archive), archive, folder)
    mine = write_ml_latest(home / NAME, make_ratings(seed=9), make_movies())
    (mine / "keep.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}

    assert download(spec, home, progress=False) == mine
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert sorted(p.name for p in home.iterdir()) == [NAME]  # no lock file either

    (mine / "tags.csv").unlink()
    with pytest.raises(DataError, match=f"{mine} is incomplete: missing file.s. tags.csv"):
        download(spec, home, progress=False)
    assert server.hits == []


@pytest.mark.parametrize(
    "member",
    ["../evil", f"{NAME}/../../evil", "/ABS/evil", "C:/evil", f"{NAME}\\..\\..\\evil"],
    ids=["dotdot", "nested-dotdot", "absolute", "drive-letter", "backslashes"],
)
def test_zip_members_cannot_escape_the_data_set_folder(server, source, home, tmp_path, member):
    folder, _, _ = source
    member = member.replace("/ABS", str(tmp_path))
    archive = build_zip(folder, extra={member: b"pwned\n"})
    assert member in zipfile.ZipFile(io.BytesIO(archive)).namelist()

    download(_spec(server.serve("/evil.zip", archive), archive, folder), home, progress=False)

    assert sorted(p.name for p in home.iterdir()) == [NAME]
    for path in tmp_path.rglob("*evil*"):  # zipfile strips '..', '/' and drives
        assert home / NAME in path.parents, path


def test_a_symlink_member_is_unzipped_as_a_plain_file(server, source, home):
    folder, _, archive = source
    buf = io.BytesIO(archive)
    with zipfile.ZipFile(buf, "a") as zf:
        link = zipfile.ZipInfo(f"{NAME}/link")
        link.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
        zf.writestr(link, "/etc/passwd")
    archive = buf.getvalue()

    download(_spec(server.serve("/link.zip", archive), archive, folder), home, progress=False)

    link = home / NAME / "link"
    assert not link.is_symlink() and link.read_text() == "/etc/passwd"


def _slow(archive: bytes):
    def handler(request):
        time.sleep(0.3)  # long enough for every process to be waiting on the lock
        request.send_response(200)
        request.send_header("Content-Length", str(len(archive)))
        request.end_headers()
        request.wfile.write(archive)

    return handler


def _load_in_child(home, barrier, results):
    barrier.wait()
    try:
        got = load_ratings(NAME, data_home=home)
        results.put(("ok", got.to_json()))
    except BaseException as err:  # report it to the parent, whatever it is
        results.put(("error", repr(err)))


@fork
def test_three_processes_share_one_download(server, source, home, monkeypatch):
    folder, ratings, archive = source
    url = server.serve("/slow.zip", _slow(archive))
    monkeypatch.setitem(DATASETS, NAME, _spec(url, archive, folder))
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    children = [ctx.Process(target=_load_in_child, args=(home, barrier, results)) for _ in range(3)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=20) for _ in children]
    for child in children:
        child.join(timeout=20)

    assert outcomes == [("ok", ratings.to_json())] * 3
    assert server.hits == ["/slow.zip"]
    assert sorted(p.name for p in home.iterdir()) == [NAME]


@fork
def test_a_download_killed_by_sigkill_is_cleaned_up_by_the_next(server, source, home):
    folder, _, archive = source
    started, release = threading.Event(), threading.Event()

    def hang(request):  # headers and part of the body, then nothing until the test ends
        request.send_response(200)
        request.send_header("Content-Length", str(len(archive)))
        request.end_headers()
        request.wfile.write(archive[:100])
        started.set()
        release.wait(10)
        request.close_connection = True

    spec = _spec(server.serve("/hang.zip", hang), archive, folder)
    child = multiprocessing.get_context("fork").Process(
        target=download, args=(spec, home), kwargs={"progress": False}
    )
    child.start()
    try:
        assert started.wait(10)
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    finally:
        release.set()
    assert list(home.glob(f".{NAME}-download-*"))  # what SIGKILL leaves behind

    spec = _spec(server.serve("/good.zip", archive), archive, folder)
    assert download(spec, home, progress=False) == home / NAME
    assert sorted(p.name for p in home.iterdir()) == [NAME]


# --------------------------------------------------------------------------- failures


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.mark.parametrize("damage", ["flipped", "truncated", "html"])
def test_archive_with_the_wrong_sha_is_rejected_with_a_fix(server, source, home, damage):
    folder, _, good = source
    bad = {
        "flipped": _flip(good, len(good) // 2),
        "truncated": good[: len(good) // 2],
        "html": b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
    }[damage]
    spec = _spec(server.serve("/bad.zip", bad), good, folder)  # sha of the good one

    with pytest.raises(DataError) as excinfo:
        download(spec, home, progress=False)

    message = str(excinfo.value)
    assert "corrupt" in message and spec.url in message and "SHA-256" in message
    assert "try again" in message.lower() and "RECO_DATA_HOME" in message
    assert "-download-" not in message  # no advice about a temporary folder
    assert _leftovers(home) == []


def test_server_down_says_where_it_looked_and_how_to_fix_it(source, home, tmp_path, monkeypatch):
    folder, _, archive = source
    monkeypatch.setitem(DATASETS, NAME, _spec(_closed_port_url(), archive, folder))
    with pytest.raises(DataError, match="could not download") as excinfo:
        load_ratings(NAME, data_home=home)

    message = str(excinfo.value)
    for looked in (home, tmp_path / "env-home", tmp_path / "xdg-cache" / "reco"):
        assert str(looked / NAME) in message
    assert "export RECO_DATA_HOME=" in message
    assert _leftovers(home) == []
    assert not (tmp_path / "env-home").exists() and not (tmp_path / "xdg-cache").exists()


def _not_http(request):
    request.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")  # a server that does not speak HTTP


def _short_body(request):
    request.send_response(200)
    request.send_header("Content-Length", "100000")
    request.end_headers()
    request.wfile.write(b"PK\x03\x04" + b"\x00" * 1000)  # then the connection drops
    request.close_connection = True


@pytest.mark.parametrize(
    "route, keyword",
    [(None, "404 Client Error: Not Found"), (_not_http, "could not"), (_short_body, "could not")],
    ids=["http-404", "not-http", "connection-drops"],
)
def test_bad_server_answers_are_data_errors(server, source, home, route, keyword):
    folder, _, archive = source
    url = server.url("/missing.zip") if route is None else server.serve("/odd.zip", route)

    with pytest.raises(DataError, match=keyword) as excinfo:
        download(_spec(url, archive, folder), home, progress=False, timeout=5)

    assert excinfo.type is DataError and "RECO_DATA_HOME" in str(excinfo.value)
    assert _leftovers(home) == []


def test_unwritable_data_home_is_a_data_error(source, tmp_path):
    folder, _, archive = source
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # works even as root, unlike chmod
    with pytest.raises(DataError, match="cannot write to") as excinfo:
        download(_spec(_closed_port_url(), archive, folder), blocker / "home", progress=False)
    assert "RECO_DATA_HOME" in str(excinfo.value)


def _snapshot(root):
    return [(str(p), p.stat().st_mtime_ns, p.stat().st_mode) for p in [root, *root.rglob("*")]]


def test_a_home_holding_the_data_set_is_only_read(source, tmp_path, monkeypatch):
    folder, ratings, archive = source
    readonly = tmp_path / "readonly"
    write_ml_latest(readonly / NAME, ratings, make_movies(ratings["movieId"].unique()))
    monkeypatch.setitem(DATASETS, NAME, _spec(_closed_port_url(), archive, folder))
    monkeypatch.setenv("RECO_DATA_HOME", str(readonly))
    for path in [readonly / NAME, readonly]:
        path.chmod(0o555)
    try:
        before = _snapshot(readonly)
        assert find_dataset(NAME, tmp_path / "not-there") == readonly / NAME
        assert download(NAME, readonly) == readonly / NAME
        pd.testing.assert_frame_equal(load_ratings(NAME), ratings)
        assert _snapshot(readonly) == before
        assert not (tmp_path / "not-there").exists()
    finally:
        for path in [readonly, readonly / NAME]:
            path.chmod(0o755)


# --------------------------------------------------------------------------- interruptions


def _interrupt_mid_download(self, url, output_file, pooch_):
    with open(output_file, "wb") as out:
        out.write(b"PK\x03\x04 half a download")
    raise KeyboardInterrupt


def _interrupt_after_unzip(real):
    def extractall(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise KeyboardInterrupt

    return extractall


def _interrupt_before_move(src, dst):
    assert any(os.scandir(src))  # the data set was unzipped
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["download", "unzip", "move"])
def test_interrupted_download_leaves_nothing_and_the_next_one_works(
    server, source, home, monkeypatch, where
):
    folder, ratings, archive = source
    spec = _spec(server.serve("/i.zip", archive), archive, folder)
    with monkeypatch.context() as patch:
        if where == "download":
            patch.setattr(pooch.HTTPDownloader, "__call__", _interrupt_mid_download)
        elif where == "unzip":
            patch.setattr(
                zipfile.ZipFile, "extractall", _interrupt_after_unzip(zipfile.ZipFile.extractall)
            )
        else:
            patch.setattr(os, "replace", _interrupt_before_move)
        with pytest.raises(KeyboardInterrupt):
            download(spec, home, progress=False)
    assert _leftovers(home) == []

    download(spec, home, progress=False)
    assert sorted(p.name for p in home.iterdir()) == [NAME]


# --------------------------------------------------------------------------- full disk


def _disk_full_mid_download(code):
    def call(self, url, output_file, pooch_):
        with open(output_file, "wb") as out:
            out.write(b"PK\x03\x04 half a download")
        raise OSError(code, os.strerror(code))

    return call


def _disk_full_mid_unzip(real, code):
    def extractall(self, path=None, *args, **kwargs):
        real(self, path, *args, **kwargs)  # some files are written, then the disk fills up
        raise OSError(code, os.strerror(code), str(path))

    return extractall


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT], ids=["ENOSPC", "EDQUOT"])
@pytest.mark.parametrize("where", ["download", "unzip"])
def test_a_full_disk_says_so_and_leaves_nothing(server, source, home, monkeypatch, where, code):
    folder, _, archive = source
    spec = _spec(server.serve("/full.zip", archive), archive, folder)
    spec = dataclasses.replace(spec, disk_mb=7)
    if where == "download":
        monkeypatch.setattr(pooch.HTTPDownloader, "__call__", _disk_full_mid_download(code))
    else:
        real = zipfile.ZipFile.extractall
        monkeypatch.setattr(zipfile.ZipFile, "extractall", _disk_full_mid_unzip(real, code))

    with pytest.raises(DataError, match="disk") as excinfo:
        download(spec, home, progress=False)

    message = str(excinfo.value)
    assert f"no space left in {home}" in message and "about 7 MB" in message
    assert "MB free" in message and "RECO_DATA_HOME" in message and "Fix:" in message
    assert "internet" not in message and "could not download" not in message
    assert isinstance(excinfo.value.__cause__, OSError)
    assert _leftovers(home) == []


# --------------------------------------------------------------------------- ml-25m and ml-32m

LARGE = {"ml-25m": write_ml_25m, "ml-32m": write_ml_32m}
COMPACT = {"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"}


def _large_source(tmp_path, name, **kwargs):
    """A small folder in the layout of ``name`` (outside every data home), its tables and zip."""
    ratings = make_ratings(n_users=6, n_movies=9, seed=7)
    movies = make_movies(ratings["movieId"].unique())
    folder = LARGE[name](tmp_path / "source" / name, ratings, movies, **kwargs)
    return folder, ratings, movies


def _large_spec(name: str, url: str, archive: bytes) -> DatasetSpec:
    """The real spec of ``name``, served from ``url`` and pinned by ``archive``'s MD5 and size."""
    return dataclasses.replace(
        DATASETS[name],
        url=url,
        archive_md5=hashlib.md5(archive).hexdigest(),
        archive_bytes=len(archive),
    )


@pytest.mark.parametrize("name", sorted(LARGE))
def test_a_large_set_downloads_once_checked_by_md5_and_loads_compactly(
    server, home, tmp_path, monkeypatch, name
):
    folder, ratings, movies = _large_source(tmp_path, name)
    archive = build_zip(folder)
    spec = _large_spec(name, server.serve(f"/{name}.zip", archive), archive)
    assert spec.archive_hash.startswith("md5:") and spec.compact
    monkeypatch.setitem(DATASETS, name, spec)

    for _ in range(2):
        got = load_ratings(name, data_home=home)
        assert {c: str(t) for c, t in got.dtypes.items()} == COMPACT
        pd.testing.assert_frame_equal(got, ratings.astype(COMPACT))
    pd.testing.assert_frame_equal(load_movies(name, data_home=home), movies, check_dtype=False)

    assert server.hits == [f"/{name}.zip"]
    assert sorted(p.name for p in home.iterdir()) == [name]
    assert file_hashes(home / name) == file_hashes(folder)


@pytest.mark.parametrize("name, damage", [("ml-25m", "flipped"), ("ml-32m", "truncated")])
def test_a_large_set_with_the_wrong_md5_is_rejected_and_nothing_kept(
    server, home, tmp_path, name, damage
):
    folder, _, _ = _large_source(tmp_path, name)
    good = build_zip(folder)
    bad = _flip(good, len(good) // 2) if damage == "flipped" else good[: len(good) // 2]
    spec = _large_spec(name, server.serve("/bad.zip", bad), good)

    with pytest.raises(DataError) as excinfo:
        download(spec, home, progress=False)

    message = str(excinfo.value)
    assert "corrupt" in message and spec.url in message and "Nothing was kept" in message
    assert f"MD5 is not {spec.archive_md5[:12]}" in message and "RECO_DATA_HOME" in message
    if damage == "truncated":  # the size tells a cut-short download from another file
        assert f"it has {len(bad):,} bytes, the published archive {len(good):,}" in message
    else:
        assert "bytes" not in message
    assert _leftovers(home, name) == []


def _change_ratings(folder):  # after checksums.txt was written: it no longer matches
    with open(folder / "ratings.csv", "ab") as f:
        f.write(b"99,1,4.0,1700000000\n")


def _malformed_line(folder):
    with open(folder / "checksums.txt", "a") as f:
        f.write("not a checksum line\n")


@pytest.mark.parametrize(
    "damage, problem",
    [
        (_change_ratings, "its ratings.csv does not match checksums.txt (MD5 "),
        (lambda folder: (folder / "tags.csv").unlink(), "checksums.txt lists tags.csv, which"),
        (_malformed_line, "checksums.txt line 5 is not"),
        (lambda folder: (folder / "checksums.txt").unlink(), "it has no checksums.txt"),
    ],
    ids=["changed-file", "listed-file-absent", "malformed-line", "no-checksums-file"],
)
def test_an_archive_whose_files_fail_its_checksums_txt_is_rejected_and_nothing_kept(
    server, home, tmp_path, damage, problem
):
    folder, _, _ = _large_source(tmp_path, "ml-32m")
    damage(folder)
    archive = build_zip(folder)  # the zip's own MD5 is right: the fault is inside it
    spec = _large_spec("ml-32m", server.serve("/ml-32m.zip", archive), archive)

    with pytest.raises(DataError) as excinfo:
        download(spec, home, progress=False)

    message = str(excinfo.value)
    assert problem in message and "corrupt" in message and spec.url in message
    assert "Nothing was kept" in message and "RECO_DATA_HOME" in message
    assert _leftovers(home, "ml-32m") == []


def test_checksums_txt_may_be_written_by_md5sum_bsd_md5_or_sha256sum(server, home, tmp_path):
    for style in ["gnu", "binary", "bsd", "sha256"]:  # one server for all four: quicker
        folder, _, _ = _large_source(
            tmp_path / style, "ml-32m", style=style.replace("sha256", "gnu")
        )
        if style == "sha256":  # 64 hex digits: the same files checked with SHA-256
            csvs = sorted(folder.glob("*.csv"))
            lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in csvs]
            (folder / "checksums.txt").write_text("".join(lines))
        archive = build_zip(folder)
        spec = _large_spec("ml-32m", server.serve(f"/{style}.zip", archive), archive)

        download(spec, home / style, progress=False)

        assert file_hashes(home / style / "ml-32m") == file_hashes(folder), style


def test_a_home_holding_a_large_set_is_only_read(tmp_path, monkeypatch):
    folder, ratings, _ = _large_source(tmp_path, "ml-32m")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    folder.rename(readonly / "ml-32m")
    monkeypatch.setitem(DATASETS, "ml-32m", _large_spec("ml-32m", _closed_port_url(), b"zip"))
    monkeypatch.setenv("RECO_DATA_HOME", str(readonly))
    for path in [readonly / "ml-32m", readonly]:
        path.chmod(0o555)
    try:
        before = _snapshot(readonly)
        assert find_dataset("ml-32m", tmp_path / "not-there") == readonly / "ml-32m"
        assert download("ml-32m", readonly) == readonly / "ml-32m"
        pd.testing.assert_frame_equal(load_ratings("ml-32m"), ratings.astype(COMPACT))
        assert _snapshot(readonly) == before
        assert not (tmp_path / "not-there").exists()
    finally:
        for path in [readonly, readonly / "ml-32m"]:
            path.chmod(0o755)


def test_a_large_set_offline_says_where_it_looked_and_how_to_fix_it(home, tmp_path, monkeypatch):
    for load in (load_ratings, load_movies):  # the real spec: no request is even tried
        with pytest.raises(DataError, match="'ml-25m' was not found") as excinfo:
            load("ml-25m", data_home=home, download_if_missing=False)
        assert "https://files.grouplens.org/datasets/movielens/ml-25m.zip" in str(excinfo.value)

    offline = dataclasses.replace(DATASETS["ml-25m"], url=_closed_port_url())
    monkeypatch.setitem(DATASETS, "ml-25m", offline)
    with pytest.raises(DataError, match="could not download") as excinfo:
        load_ratings("ml-25m", data_home=home)  # download_if_missing=True, but no server
    message = str(excinfo.value)
    assert "'ml-25m' was not found" in message and "export RECO_DATA_HOME=" in message
    for looked in (home, tmp_path / "env-home", tmp_path / "xdg-cache" / "reco"):
        assert str(looked / "ml-25m") in message
    assert _leftovers(home, "ml-25m") == []
    assert not (tmp_path / "env-home").exists() and not (tmp_path / "xdg-cache").exists()
