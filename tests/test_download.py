"""Tests of reco.data's download: a local HTTP server serves zips built by the tests.

Nothing leaves 127.0.0.1: a guard fails any test that asks urllib for another
host. Each case checks both the error and that the data home is left as it was
(no data set folder, no ``.ml-test-download-*`` temporary folder).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

import pandas as pd
import pytest
from synthetic import build_zip, file_hashes, make_movies, make_ratings, write_ml_latest

import reco.data
from reco.data import DATASETS, DataError, DatasetSpec, download, find_dataset, load_ratings

NAME = "ml-test"


@pytest.fixture(autouse=True)
def isolated_homes(tmp_path, monkeypatch):
    """Point every data home at tmp_path; allow urllib to reach 127.0.0.1 only."""
    monkeypatch.setenv("RECO_DATA_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url).hostname
        assert host == "127.0.0.1", f"test tried to reach {url}"
        kwargs["timeout"] = min(kwargs.get("timeout") or 10, 10)
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
        elif callable(route):
            route(self)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(route)))
            self.end_headers()
            self.wfile.write(route)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    """A local HTTP server on a free port; ``server.serve(path, bytes)`` returns a URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {}
    port = httpd.server_address[1]

    def serve(path, body):
        httpd.routes[path] = body
        return f"http://127.0.0.1:{port}{path}"

    httpd.serve = serve
    httpd.url = lambda path: f"http://127.0.0.1:{port}{path}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def source(tmp_path):
    """A synthetic data set folder named ml-test (outside every data home)."""
    ratings = make_ratings(n_users=10, n_movies=15, seed=4)
    folder = write_ml_latest(
        tmp_path / "source" / NAME, ratings, make_movies(ratings["movieId"].unique())
    )
    return folder, ratings


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "data-home"
    path.mkdir()
    return path


def _spec(url, archive: bytes | None, files) -> DatasetSpec:
    return DatasetSpec(
        name=NAME,
        url=url,
        archive_sha256=None if archive is None else hashlib.sha256(archive).hexdigest(),
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files=files,
    )


def _assert_untouched(home: Path) -> None:
    """The data home holds no data set and no temporary folder."""
    assert sorted(p.name for p in home.iterdir()) == []


def _closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{NAME}.zip"


# --------------------------------------------------------------------------- success


def test_good_zip_downloads_verifies_and_loads(server, source, home):
    folder, ratings = source
    archive = build_zip(folder)
    spec = _spec(server.serve("/ml-test.zip", archive), archive, file_hashes(folder))

    target = download(spec, home, progress=False)

    assert target == home / NAME
    assert sorted(p.name for p in home.iterdir()) == [NAME]  # no .ml-test-download-* left
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in folder.iterdir())
    for path in folder.iterdir():
        assert (target / path.name).read_bytes() == path.read_bytes()
    pd.testing.assert_frame_equal(reco.data.read_ratings(target / "ratings.csv"), ratings)


def test_load_ratings_downloads_into_the_first_home_end_to_end(
    server, source, home, tmp_path, monkeypatch
):
    folder, ratings = source
    archive = build_zip(folder)
    monkeypatch.setitem(
        DATASETS, NAME, _spec(server.serve("/z.zip", archive), archive, file_hashes(folder))
    )

    got = load_ratings(NAME, data_home=home)  # verify=True: per-file sha256s checked

    pd.testing.assert_frame_equal(got, ratings)
    assert sorted(p.name for p in home.iterdir()) == [NAME]
    assert not (tmp_path / "env-home").exists() and not (tmp_path / "xdg-cache").exists()
    server.routes.clear()  # a second load must not download again
    pd.testing.assert_frame_equal(load_ratings(NAME, data_home=home), ratings)


def test_a_crlf_archive_passes_the_lf_checksums(server, source, home, tmp_path):
    folder, ratings = source
    crlf = write_ml_latest(
        tmp_path / "crlf" / NAME, ratings, make_movies(ratings["movieId"].unique()), "\r\n"
    )
    archive = build_zip(crlf)
    spec = _spec(server.serve("/crlf.zip", archive), archive, file_hashes(folder))  # LF hashes
    target = download(spec, home, progress=False)
    assert b"\r\n" in (target / "ratings.csv").read_bytes()


def test_download_creates_a_missing_data_home(server, source, tmp_path):
    folder, _ = source
    archive = build_zip(folder)
    spec = _spec(server.serve("/a.zip", archive), archive, file_hashes(folder))
    home = tmp_path / "new" / "home"
    assert download(spec, home, progress=False) == home / NAME
    assert (home / NAME / "ratings.csv").is_file()


def test_download_refuses_to_overwrite_an_existing_folder(server, source, home):
    folder, _ = source
    archive = build_zip(folder)
    spec = _spec(server.serve("/a.zip", archive), archive, file_hashes(folder))
    (home / NAME).mkdir()
    (home / NAME / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        download(spec, home, progress=False)
    assert [p.name for p in (home / NAME).iterdir()] == ["keep.txt"]


# --------------------------------------------------------------------------- failures


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_corrupt_zip_with_recorded_sha_is_rejected(server, source, home, damage):
    folder, _ = source
    good = build_zip(folder)
    bad = _flip(good, len(good) // 2) if damage == "flipped" else good[: len(good) // 2]
    spec = _spec(server.serve("/bad.zip", bad), good, file_hashes(folder))  # sha of the good one

    with pytest.raises(DataError) as excinfo:
        download(spec, home, progress=False)

    message = str(excinfo.value)
    assert "SHA-256" in message and "corrupt" in message and spec.url in message
    _assert_untouched(home)


def _deflate_damaged(folder: Path) -> bytes:
    """A zip whose central directory is intact but whose deflate stream is not."""
    good = build_zip(folder)
    info = zipfile.ZipFile(io.BytesIO(good)).getinfo(f"{NAME}/ratings.csv")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    return _flip(good, start + 3)


@pytest.mark.parametrize(
    "damage", ["flipped-central-directory", "truncated", "deflate-stream", "html"]
)
def test_corrupt_zip_without_recorded_sha_is_not_a_valid_zip(server, source, home, damage):
    folder, _ = source
    good = build_zip(folder)
    bad = {
        "flipped-central-directory": _flip(good, len(good) - 30),
        "truncated": good[: len(good) // 2],
        "deflate-stream": _deflate_damaged(folder),
        "html": b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
    }[damage]
    spec = _spec(server.serve("/bad.zip", bad), None, file_hashes(folder))

    with pytest.raises(DataError, match="valid zip") as excinfo:
        download(spec, home, progress=False)

    assert excinfo.type is DataError
    _assert_untouched(home)


def test_deflate_damage_is_a_zlib_error_for_zipfile_but_a_data_error_for_reco(source, tmp_path):
    folder, _ = source
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(_deflate_damaged(folder))
    with zipfile.ZipFile(archive) as zf, pytest.raises(zlib.error):  # the precondition
        zf.read(f"{NAME}/ratings.csv")  # zlib.error, not zipfile.BadZipFile

    with pytest.raises(DataError, match="valid zip"):
        reco.data._extract(_spec("http://127.0.0.1/x.zip", None, {}), archive, tmp_path / "out")


@pytest.mark.parametrize(
    "member",
    ["../evil", f"{NAME}/../../evil", "ABSOLUTE", "C:/evil", f"{NAME}\\..\\..\\evil"],
    ids=["dotdot", "nested-dotdot", "absolute", "drive-letter", "backslashes"],
)
def test_unsafe_member_is_refused_and_nothing_is_written(server, source, home, tmp_path, member):
    folder, _ = source
    if member == "ABSOLUTE":
        member = str(tmp_path / "evil-absolute")
    archive = build_zip(folder, extra={member: b"pwned\n"})
    assert member in zipfile.ZipFile(io.BytesIO(archive)).namelist()
    spec = _spec(server.serve("/evil.zip", archive), archive, file_hashes(folder))
    before = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(DataError, match="outside the data folder") as excinfo:
        download(spec, home, progress=False)

    assert repr(member) in str(excinfo.value)
    _assert_untouched(home)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no evil, no ml-test
    assert not (tmp_path / "evil-absolute").exists()
    assert not any(p.name.startswith("evil") for p in tmp_path.rglob("*"))


def test_symlink_member_is_refused(server, source, home):
    folder, _ = source
    buf = io.BytesIO(build_zip(folder))
    with zipfile.ZipFile(buf, "a") as zf:
        link = zipfile.ZipInfo(f"{NAME}/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    archive = buf.getvalue()
    spec = _spec(server.serve("/link.zip", archive), archive, file_hashes(folder))
    with pytest.raises(DataError, match="symbolic link"):
        download(spec, home, progress=False)
    _assert_untouched(home)


def test_server_down_says_where_it_looked_and_how_to_fix_it(source, home, tmp_path, monkeypatch):
    folder, _ = source
    monkeypatch.setitem(DATASETS, NAME, _spec(_closed_port_url(), None, file_hashes(folder)))

    with pytest.raises(DataError) as excinfo:
        load_ratings(NAME, data_home=home)

    message = str(excinfo.value)
    assert "could not download" in message
    for looked in (home, tmp_path / "env-home", tmp_path / "xdg-cache" / "reco"):
        assert str(looked / NAME) in message
    assert "RECO_DATA_HOME" in message
    _assert_untouched(home)
    assert not (tmp_path / "env-home").exists() and not (tmp_path / "xdg-cache").exists()


def _not_http(handler):
    handler.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")  # a server that does not speak HTTP


def _short_body(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"PK\x03\x04" + b"\x00" * 1000)  # then the connection drops
    handler.close_connection = True


@pytest.mark.parametrize(
    "route, keyword",
    [(404, "Not Found"), (_not_http, "could not download"), (_short_body, "valid zip")],
    ids=["http-404", "not-http", "connection-drops"],
)
def test_bad_server_answers_are_data_errors(server, source, home, route, keyword):
    folder, _ = source
    url = server.url("/missing.zip") if route == 404 else server.serve("/odd.zip", route)
    spec = _spec(url, None, file_hashes(folder))

    with pytest.raises(DataError, match=keyword) as excinfo:
        download(spec, home, progress=False, timeout=5)

    assert excinfo.type is DataError
    _assert_untouched(home)


def test_files_that_do_not_match_their_recorded_sha_are_rejected(server, source, home):
    folder, _ = source
    hashes = file_hashes(folder)
    (folder / "ratings.csv").write_bytes(
        (folder / "ratings.csv").read_bytes().replace(b"3.5", b"4.5", 1)
    )
    archive = build_zip(folder)  # the archive's own sha is right, a file inside is not
    spec = _spec(server.serve("/m.zip", archive), archive, hashes)

    with pytest.raises(DataError, match="ratings.csv") as excinfo:
        download(spec, home, progress=False)

    assert "does not match" in str(excinfo.value)
    _assert_untouched(home)


@pytest.mark.parametrize("missing", ["ratings.csv", "tags.csv"])
def test_zip_missing_a_required_file_is_rejected(server, source, home, missing):
    folder, _ = source
    archive = build_zip(folder, exclude=[missing])
    spec = _spec(server.serve("/x.zip", archive), archive, file_hashes(folder))

    with pytest.raises(DataError, match=f"{NAME}/{missing}"):
        download(spec, home, progress=False)

    _assert_untouched(home)


def test_zip_with_another_top_folder_is_rejected(server, source, home):
    folder, _ = source
    archive = build_zip(folder, root="ml-other")
    spec = _spec(server.serve("/o.zip", archive), archive, file_hashes(folder))
    with pytest.raises(DataError, match="not the ml-test data set"):
        download(spec, home, progress=False)
    _assert_untouched(home)


def test_unwritable_data_home_is_a_data_error(source, tmp_path):
    folder, _ = source
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # works even as root, unlike chmod
    spec = _spec(_closed_port_url(), None, file_hashes(folder))
    with pytest.raises(DataError, match="cannot write to") as excinfo:
        download(spec, blocker / "home", progress=False)
    assert "RECO_DATA_HOME" in str(excinfo.value)


def _snapshot(root: Path) -> list[tuple[str, int, int, int]]:
    entries = [root, *sorted(root.rglob("*"))]
    return [
        (str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size, p.stat().st_mode)
        for p in entries
    ]


def test_complete_data_home_is_only_read(source, tmp_path, monkeypatch):
    folder, ratings = source
    readonly = tmp_path / "readonly"
    write_ml_latest(readonly / NAME, ratings, make_movies(ratings["movieId"].unique()))
    monkeypatch.setitem(DATASETS, NAME, _spec(_closed_port_url(), None, file_hashes(folder)))

    def no_download(*args, **kwargs):
        raise AssertionError("a complete data set must not be downloaded again")

    monkeypatch.setattr(reco.data, "download", no_download)
    for path in [readonly / NAME, readonly]:
        path.chmod(0o555)
    try:
        before = _snapshot(readonly)
        monkeypatch.setenv("RECO_DATA_HOME", str(readonly))

        assert find_dataset(NAME) == readonly / NAME
        assert find_dataset(NAME, tmp_path / "not-there") == readonly / NAME
        pd.testing.assert_frame_equal(load_ratings(NAME), ratings)

        assert _snapshot(readonly) == before
        assert not (tmp_path / "not-there").exists()
    finally:
        for path in [readonly, readonly / NAME]:
            path.chmod(0o755)


# --------------------------------------------------------------------------- interruptions


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _interrupt_mid_fetch(spec, archive, **kwargs):
    archive.write_bytes(b"PK\x03\x04 half a download")
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["_fetch", "_extract"])
def test_interrupted_download_leaves_nothing(server, source, home, monkeypatch, where):
    folder, _ = source
    archive = build_zip(folder)
    spec = _spec(server.serve("/i.zip", archive), archive, file_hashes(folder))
    monkeypatch.setattr(reco.data, where, _interrupt_mid_fetch if where == "_fetch" else _interrupt)

    with pytest.raises(KeyboardInterrupt):
        download(spec, home, progress=False)

    _assert_untouched(home)


def test_interrupt_after_extraction_leaves_nothing(server, source, home, monkeypatch):
    folder, _ = source
    archive = build_zip(folder)
    spec = _spec(server.serve("/i.zip", archive), archive, file_hashes(folder))

    def replace_interrupted(src, dst):
        assert Path(src).is_dir() and any(Path(src).iterdir())  # extraction did happen
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(reco.data.os, "replace", replace_interrupted)
        download(spec, home, progress=False)
    _assert_untouched(home)


def test_a_failed_download_removes_the_data_home_it_created(source, tmp_path):
    folder, _ = source
    spec = _spec(_closed_port_url(), None, file_hashes(folder))
    new_home = tmp_path / "fresh" / "nested" / "home"

    with pytest.raises(DataError, match="could not download"):
        download(spec, new_home, progress=False)

    assert not (tmp_path / "fresh").exists()


def test_a_failed_download_keeps_a_data_home_that_already_existed(source, home):
    folder, _ = source
    spec = _spec(_closed_port_url(), None, file_hashes(folder))

    with pytest.raises(DataError):
        download(spec, home, progress=False)

    assert home.is_dir()
    _assert_untouched(home)
