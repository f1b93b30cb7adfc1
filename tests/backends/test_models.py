"""`voxline models pull|list|path|remove` against a stand-in Hugging Face hub on 127.0.0.1
(`voxline.testing.hub.HubSim`) that answers the hub's own listing and file endpoints with
generated files, and misbehaves on purpose: dropped connections, damaged bytes, 404s,
hostile file names. The last tests pull a random-weight ChatTTS model from it and speak with
`chattts-local` without `--model-dir`."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import run_cli
from voxline import hub, weights
from voxline.testing.hub import HubSim

REPO = "2Noise/ChatTTS"
BIG = "asset/gpt/model.safetensors"


def generated_files(big_bytes: int = 3 << 20) -> dict[str, bytes]:
    """Stand-ins for ChatTTS's files: random bytes, one of them big."""
    rng = random.Random(7)
    files = {}
    for name in weights.CHATTTS_FILES:
        size = big_bytes if name == BIG else (150_000 if name.endswith(".safetensors")
                                             else 2_000)
        files[name] = rng.randbytes(size)
    return files


@pytest.fixture
def files():
    return generated_files()


def pull(sim: HubSim | None, folder: Path, *args: str, env: dict | None = None,
         endpoint: str | None = None) -> subprocess.CompletedProcess:
    """`voxline models pull chattts --dir FOLDER` against `sim`, as a user runs it."""
    base = {"HF_ENDPOINT": endpoint or sim.url, "HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": ""}
    return run_cli("models", "pull", "chattts", "--dir", str(folder), *args,
                   env={**base, **(env or {})}, timeout=120)


def partial_file(folder: Path, sim: HubSim, name: str) -> Path:
    return folder / ".partial" / sim.sha256(name)


def resolve_gets(sim: HubSim, name: str) -> list:
    """The GETs that carried `name`'s bytes (the CDN's for LFS files)."""
    return [r for r in sim.requests("GET", name) if r.status in (200, 206)]


# -- pulling ----------------------------------------------------------------------------


def test_a_full_pull_checks_every_file_records_it_and_a_second_pull_downloads_nothing(
        files, tmp_path):
    folder = tmp_path / "ChatTTS"
    with HubSim(REPO, files) as sim:
        proc = pull(sim, folder)
        err = proc.stderr.decode()
        assert proc.returncode == 0, err
        for name, data in files.items():
            assert (folder / name).read_bytes() == data
        assert not (folder / ".partial").exists()
        listing = sim.requests("GET")[0]
        assert listing.path == f"/api/models/{REPO}/revision/main?blobs=true"
        # LFS files come through the CDN redirect, each fetched once, whole
        assert sim.requests("GET", BIG)[0].status == 302
        assert [r.path for r in resolve_gets(sim, BIG)] == [f"/cdn/{sim.sha256(BIG)}"]
        assert all(sim.sent_bytes(name) == len(data) for name, data in files.items())
        record = json.loads((folder / ".voxline-model.json").read_text())
        assert record["commit"] == sim.commit and record["repo"] == REPO
        assert record["files"][BIG]["sha256"] == sim.sha256(BIG)
        out = proc.stdout.decode()
        assert f"9 files in {folder}" in out and "9 downloaded" in out
        assert "CC BY-NC 4.0" in out and "AGPL" in out
        # not a terminal: one line per file, no bar drawn over itself
        assert f"{BIG}: 3.1 MB, downloaded, hash checked" in err and "\r" not in err
        assert "Traceback" not in err

        before = len(sim.log)
        again = pull(sim, folder)
        assert again.returncode == 0, again.stderr.decode()
        assert "0 downloaded, 9 already here" in again.stdout.decode()
        assert [r.path for r in sim.log[before:]] == [listing.path]


def test_a_dropped_connection_is_continued_with_a_range_request(files, tmp_path):
    folder = tmp_path / "ChatTTS"
    with HubSim(REPO, files, drop={BIG: 1}) as sim:
        proc = pull(sim, folder)
        assert proc.returncode == 0, proc.stderr.decode()
        first, second = resolve_gets(sim, BIG)
        assert "range" not in first.headers and 0 < first.sent_bytes < len(files[BIG])
        assert second.headers["range"] == f"bytes={first.sent_bytes}-"
        assert second.status == 206
        assert sim.sent_bytes(BIG) == len(files[BIG])  # nothing sent twice
        assert (folder / BIG).read_bytes() == files[BIG]


def test_a_download_that_keeps_failing_stops_and_the_next_run_continues_it(files, tmp_path):
    folder = tmp_path / "ChatTTS"
    with HubSim(REPO, files, drop={BIG: hub.RETRIES + 1}) as sim:
        proc = pull(sim, folder)
        err = proc.stderr.decode()
        assert proc.returncode == 4, err
        assert f"the download of {BIG} stopped at" in err
        assert "run the same command again to continue" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 10
        assert not (folder / BIG).exists()
        held = partial_file(folder, sim, BIG).stat().st_size
        assert 0 < held < len(files[BIG])
        sent_before = sim.sent_bytes(BIG)

        again = pull(sim, folder)
        assert again.returncode == 0, again.stderr.decode()
        resumed = resolve_gets(sim, BIG)[hub.RETRIES + 1]
        assert resumed.headers["range"] == f"bytes={held}-"
        assert sim.sent_bytes(BIG) - sent_before == len(files[BIG]) - held
        assert (folder / BIG).read_bytes() == files[BIG]
        assert "4 downloaded, 5 already here" in again.stdout.decode()  # BIG and after


def test_a_killed_pull_resumes_from_its_partial_file(tmp_path):
    files = generated_files(big_bytes=6 << 20)
    folder = tmp_path / "ChatTTS"
    with HubSim(REPO, files, delay_per_block_s=0.01) as sim:
        env = {**os.environ, "HF_ENDPOINT": sim.url, "HF_HUB_OFFLINE": ""}
        process = subprocess.Popen(
            [sys.executable, "-c", "from voxline.cli.main import main; main()", "models",
             "pull", "chattts", "--dir", str(folder)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial = partial_file(folder, sim, BIG)
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size > 512 * 1024):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        held = partial.stat().st_size
        assert not (folder / BIG).exists() and held < len(files[BIG])
        # the stand-in's thread may still be writing a block into the dead connection's
        # socket: count what it sent once its count stops moving
        sent_before, steady = sim.sent_bytes(BIG), 0
        while steady < 5:
            time.sleep(0.05)
            now = sim.sent_bytes(BIG)
            steady = steady + 1 if now == sent_before else 0
            sent_before = now
        sim.delay_per_block_s = 0.0

        proc = pull(sim, folder)
        assert proc.returncode == 0, proc.stderr.decode()
        resumed = resolve_gets(sim, BIG)[-1]
        assert resumed.headers["range"] == f"bytes={held}-" and resumed.status == 206
        assert sim.sent_bytes(BIG) - sent_before == len(files[BIG]) - held
        assert (folder / BIG).read_bytes() == files[BIG]


@pytest.mark.parametrize("name, kind", [("asset/DVAE.safetensors", "SHA-256"),
                                        ("asset/gpt/config.json", "git blob id")])
def test_a_damaged_file_is_rejected_and_not_left_under_its_name(files, tmp_path, name, kind):
    folder = tmp_path / "ChatTTS"
    with HubSim(REPO, files, corrupt={name}) as sim:
        proc = pull(sim, folder)
        err = proc.stderr.decode()
        assert proc.returncode == 4, err
        assert f"voxline: error: {name} from {sim.url} does not match the {kind} the hub " \
               "lists for it" in err
        assert "the damaged download was deleted" in err and "Traceback" not in err
        assert not (folder / name).exists()
        assert not partial_file(folder, sim, name).exists()
        assert not (folder / ".voxline-model.json").exists()


def test_what_the_hub_does_not_have_is_a_clear_error(files, tmp_path):
    folder = tmp_path / "ChatTTS"
    with HubSim(REPO, files, missing={"asset/Vocos.safetensors"}) as sim:
        proc = pull(sim, folder)
        assert proc.returncode == 4
        assert (f"the Hugging Face hub at {sim.url} has no asset/Vocos.safetensors in {REPO} "
                f"at {sim.commit[:12]} (HTTP 404)") in proc.stderr.decode()
        proc = pull(sim, folder, "--revision", "v9")
        assert proc.returncode == 4
        assert f"has no {REPO} at revision 'v9' (HTTP 404)" in proc.stderr.decode()
    del files["asset/Embed.safetensors"]
    with HubSim(REPO, files) as sim:
        proc = pull(sim, tmp_path / "other")
        assert proc.returncode == 4
        assert f"{REPO}@main (commit {sim.commit[:12]}) has no asset/Embed.safetensors" in \
            proc.stderr.decode()
        assert not sim.requests("GET", "asset/DVAE.safetensors")  # nothing downloaded


def test_an_unreachable_hub_and_offline_mode(files, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    folder = tmp_path / "ChatTTS"
    proc = pull(None, folder, endpoint=closed)
    err = proc.stderr.decode()
    assert proc.returncode == 4, err
    assert f"cannot reach the Hugging Face hub at {closed}" in err
    assert "connection refused" in err and "Traceback" not in err
    assert not folder.exists()
    with HubSim(REPO, files) as sim:
        proc = pull(sim, folder, env={"HF_HUB_OFFLINE": "1"})
        assert proc.returncode == 2
        assert "HF_HUB_OFFLINE is set, so voxline will not contact the Hugging Face hub" in \
            proc.stderr.decode()
        assert sim.log == [] and not folder.exists()


# -- hostile hubs and folders -------------------------------------------------------------


@pytest.mark.parametrize("hostile", ["../evil.json", "/etc/evil.json", "asset/../../evil.json",
                                     "C:\\evil.json", "asset//x.json", "./x.json"])
def test_hostile_names_in_the_listing_refuse_the_pull(files, tmp_path, hostile):
    folder = tmp_path / "models" / "ChatTTS"
    with HubSim(REPO, files, extra_names=(hostile,)) as sim:
        proc = pull(sim, folder)
        err = proc.stderr.decode()
        assert proc.returncode == 4, err
        assert "which is not a plain relative path; nothing was downloaded" in err
        assert [r.path.split("?")[0] for r in sim.log] == [f"/api/models/{REPO}/revision/main"]
    assert not (tmp_path / "evil.json").exists() and not (tmp_path / "models").exists()


def test_writes_never_follow_a_symlink_out_of_the_folder(files, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "ChatTTS"
    folder.mkdir()
    (folder / "asset").symlink_to(outside)
    with HubSim(REPO, files) as sim:
        proc = pull(sim, folder)
        assert proc.returncode == 5, proc.stderr.decode()
        assert "would be written outside" in proc.stderr.decode()
        assert list(outside.iterdir()) == []

        (folder / "asset").unlink()
        victim = tmp_path / "victim"
        victim.write_bytes(b"keep me")
        (folder / ".partial").mkdir()
        partial_file(folder, sim, "asset/Decoder.safetensors").symlink_to(victim)
        proc = pull(sim, folder)
        assert proc.returncode == 5, proc.stderr.decode()
        assert "cannot write in" in proc.stderr.decode()
        assert victim.read_bytes() == b"keep me"


def test_two_pulls_into_one_folder_never_write_one_file_together(files, tmp_path):
    import fcntl

    folder = tmp_path / "ChatTTS"
    (folder / ".partial").mkdir(parents=True)
    with HubSim(REPO, files) as sim:
        with open(partial_file(folder, sim, "asset/Decoder.safetensors"), "wb") as other:
            fcntl.flock(other, fcntl.LOCK_EX)  # as another pull holds it while downloading
            proc = pull(sim, folder)
        assert proc.returncode == 5
        assert "another voxline is downloading asset/Decoder.safetensors into" in \
            proc.stderr.decode()
        assert pull(sim, folder).returncode == 0


def test_names_that_are_not_plain_relative_paths():
    for bad in ("", "/abs", "../x", "a/../b", "a//b", "./a", "a/.", "C:x", "a\\b", "a\x00b"):
        with pytest.raises(ValueError):
            hub.safe_relative_path(bad)
    assert str(hub.safe_relative_path("asset/gpt/config.json")) == "asset/gpt/config.json"


# -- the ChatTTS library's own hashes ------------------------------------------------------


def test_files_that_differ_from_the_librarys_release_are_named(files, tmp_path):
    with HubSim(REPO, files) as sim:
        config = hub.HubConfig(sim.url)
        same = replace(weights.MODELS["chattts"], release_hashes=lambda: weights.ReleaseHashes(
            "ChatTTS 9.9", {name: sim.sha256(name) if name.endswith(".safetensors") else
                            hashlib.sha256(data).hexdigest()
                            for name, data in files.items()}))
        result = weights.pull(same, tmp_path / "a", config)
        assert result.differ_from_release == ()
        other = replace(same, release_hashes=lambda: weights.ReleaseHashes(
            "ChatTTS 9.9", {BIG: "0" * 64}))
        result = weights.pull(other, tmp_path / "b", config)
        assert result.differ_from_release == (BIG,)


def test_the_files_and_hashes_are_those_chattts_local_checks():
    from voxline.plugins import chattts_local

    assert weights.CHATTTS_FILES == chattts_local.ASSET_FILES
    release = weights.MODELS["chattts"].release_hashes()
    if release is None:
        pytest.skip("the chattts extra is not installed")
    import ChatTTS

    table = ChatTTS.Chat().sha256_map
    assert release.library.startswith("ChatTTS ")
    assert release.sha256 == {name: table[chattts_local._hash_key(name)]
                              for name in chattts_local.ASSET_FILES}


# -- list, path, remove, progress ----------------------------------------------------------


def test_where_models_live_by_default():
    assert weights.model_folder("chattts", {"VOXLINE_MODELS_DIR": "/m"}) == Path("/m/chattts")
    assert weights.model_folder("chattts", {"XDG_DATA_HOME": "/d"}) == \
        Path("/d/voxline/models/chattts")
    assert weights.model_folder("chattts", {"HOME": "/h"}) == \
        Path.home() / ".local/share/voxline/models/chattts"


def test_list_path_and_remove(files, tmp_path):
    env = {"VOXLINE_MODELS_DIR": str(tmp_path / "models")}
    folder = tmp_path / "models" / "chattts"

    def listed():
        proc = run_cli("models", "list", "--json", env=env)
        assert proc.returncode == 0, proc.stderr.decode()
        (entry,) = json.loads(proc.stdout)
        return entry

    assert run_cli("models", "path", "chattts", env=env).stdout.decode().strip() == str(folder)
    assert listed()["state"] == "missing" and listed()["folder"] == str(folder)
    with HubSim(REPO, files, drop={BIG: hub.RETRIES + 1}) as sim:
        assert pull(sim, folder).returncode == 4
        assert listed()["state"] == "partial"
        assert pull(sim, folder).returncode == 0
    entry = listed()
    assert entry["state"] == "installed" and entry["commit"] == sim.commit
    assert entry["size_bytes"] >= sum(len(d) for d in files.values())
    assert entry["weights_licence"].startswith("CC BY-NC 4.0")
    text = run_cli("models", "list", env=env).stdout.decode()
    assert "chattts" in text and "installed" in text and str(folder) in text
    assert "AGPL-3.0-or-later" in text and "CC BY-NC 4.0 (non-commercial use only)" in text

    (folder / "notes.txt").write_text("mine")
    proc = run_cli("models", "remove", "chattts", env=env, input=b"")
    assert proc.returncode == 2
    assert "not removing" in proc.stderr.decode() and "--yes" in proc.stderr.decode()
    assert (folder / BIG).exists()
    proc = run_cli("models", "remove", "chattts", "--yes", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "kept 1 other file(s)" in proc.stdout.decode()
    assert sorted(p.name for p in folder.rglob("*")) == ["notes.txt"]
    (folder / "notes.txt").unlink()
    assert run_cli("models", "remove", "chattts", "-y", env=env).stdout.decode() == \
        f"chattts: removed {folder}\n"
    assert not folder.exists() and listed()["state"] == "missing"


def test_a_terminal_sees_a_progress_bar_in_bytes_and_percent(files, tmp_path):
    with HubSim(REPO, files, delay_per_block_s=0.005) as sim:
        leader, follower = pty.openpty()
        env = {**os.environ, "HF_ENDPOINT": sim.url, "HF_HUB_OFFLINE": ""}
        process = subprocess.Popen(
            [sys.executable, "-c", "from voxline.cli.main import main; main()", "models",
             "pull", "chattts", "--dir", str(tmp_path / "m")], env=env,
            stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=60) == 0
        os.close(leader)
    text = seen.decode()
    assert "\r[" in text and "%" in text and " of 3.8 MB" in text


# -- then chattts-local speaks with it ------------------------------------------------------


@pytest.fixture(scope="module")
def random_chattts() -> Path:
    try:
        import ChatTTS  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the chattts extra is not installed ({exc}); CI must have it")
        pytest.skip(f"the chattts extra is not installed ({exc})")
    from voxline.testing import chattts_assets

    return chattts_assets.cached(os.environ.get("VOXLINE_TEST_MODELS",
                                                Path.home() / ".cache" / "voxline-tests"))


@pytest.mark.chattts
def test_pull_then_synth_with_chattts_local_and_no_model_dir(random_chattts, tmp_path):
    env = {"VOXLINE_MODELS_DIR": str(tmp_path / "models")}
    source = tmp_path / "news.txt"
    source.write_text("今天天气很好。", encoding="utf-8")
    synth = ("synth", str(source), "-o", str(tmp_path / "out"), "--backend", "chattts-local")

    proc = run_cli(*synth, env=env)
    assert proc.returncode == 4
    assert "run `voxline models pull chattts`" in proc.stderr.decode()

    with HubSim(REPO, {name: random_chattts / name for name in weights.CHATTTS_FILES}) as sim:
        proc = run_cli("models", "pull", "chattts", env={**env, "HF_ENDPOINT": sim.url,
                                                         "HF_HUB_OFFLINE": ""}, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    # random weights are not ChatTTS's release: the pull says so, and what to do
    assert "differ from the files ChatTTS 0.2" in err and "check_hashes = false" in err
    folder = tmp_path / "models" / "chattts"
    assert (folder / BIG).stat().st_size == (random_chattts / BIG).stat().st_size

    proc = run_cli(*synth, env=env, timeout=600)
    assert proc.returncode == 4
    assert f"none of the files in {folder} match the released ChatTTS weights" in \
        proc.stderr.decode()

    config = tmp_path / "voxline.toml"
    config.write_text("[backends.chattts-local]\ncheck_hashes = false\n")
    proc = run_cli(*synth, "--config", str(config), "--json", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    assert report["written"] == 1 and report["backends"]["chattts-local"]["chunks"] == 1
    assert (tmp_path / "out" / "news.wav").stat().st_size > 16000
