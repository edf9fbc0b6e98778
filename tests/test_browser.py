"""The web UI in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright for Python starts nothing of its own; the app runs in a subprocess on a free
loopback port (``sonomorph app``, tiny random models, the shipped scream model), the test uploads a song in the
Karaoke tab (with the test model, then with the shipped separator picked in the model menu,
checking that the tab names the model that ran; and two songs at once with the stems and
format options, for one zip), two clips at once in the Genre tab and a voice in the Scream
tab, waits for the results, checks that each result
player's source is served and that the browser can decode it, and saves screenshots. It
also checks that the page made no request outside the app, that an upload over the limit
is refused by the server, and that the app's private temporary folder is gone after it
stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
START_TIMEOUT_S = 240.0
RESULT_TIMEOUT_MS = 240_000
UPLOAD_LIMIT_MB = 2

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="needs Debian's chromium (apt-get install chromium chromium-driver); "
           "runs always in CI")

# Resolves once the browser has the file's metadata: proof that it can play it.
PLAYABLE_JS = """async (url) => {
  const a = new Audio();
  a.preload = 'auto';
  const done = new Promise((ok, bad) => {
    a.onloadedmetadata = () => ok(a.duration);
    a.onerror = () => bad(new Error('media error ' + (a.error ? a.error.code : '?')));
  });
  a.src = url;
  return await done;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``sonomorph app`` in a subprocess; yields its URL, stops it at the end and checks
    that its private temporary folder went with it."""
    root = tmp_path_factory.mktemp("browser")
    models = make_tiny_models(root / "models")
    assert "separator" in models
    tmp = root / "tmp"
    tmp.mkdir()
    port = _free_port()
    cmd = [sys.executable, "-m", "sonomorph", "app", "--port", str(port),
           "--max-upload-mb", str(UPLOAD_LIMIT_MB)]
    for kind, path in models.items():
        if kind != "scream":  # the Scream tab runs the shipped model
            cmd += ["--model", f"{kind}={path}"]
    log = open(root / "app.log", "w")  # noqa: SIM115 - closed below
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited with {proc.returncode}: "
                            f"{(root / 'app.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer in {START_TIMEOUT_S:.0f} s")
            time.sleep(1.0)
        assert [p.name[:14] for p in tmp.iterdir()] == ["sonomorph-app-"]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    leftovers = [p.name for p in tmp.iterdir() if p.name.startswith("sonomorph-app-")]
    assert not leftovers, f"private temporary folder left behind: {leftovers}"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    page.outside = []  # requests that left the app
    page.on("request", lambda r: None if r.url.startswith((server, "blob:", "data:"))
            else page.outside.append(r.url))
    page.goto(server)
    yield page
    page.close()


def _check_player(page, elem_id: str, seconds: float, shot: Path) -> None:
    """The result player ``elem_id`` has a source the server serves as WAV and the
    browser decodes to about ``seconds`` of audio, and the player shows that duration."""
    link = page.locator(f"#{elem_id} a[download]").first
    src = link.get_attribute("href")
    assert src, f"{elem_id}: the player has no source (screenshot: {shot})"
    response = page.request.get(src)
    assert response.ok, f"{elem_id}: {src} answered {response.status} (screenshot: {shot})"
    assert response.body()[:4] == b"RIFF", f"{elem_id}: not a WAV file (screenshot: {shot})"
    duration = page.evaluate(PLAYABLE_JS, src)
    assert abs(duration - seconds) < 0.1, f"{elem_id}: {duration} s (screenshot: {shot})"
    shown = page.locator(f"#{elem_id} #duration").inner_text()
    assert shown == f"0:{round(seconds):02d}", f"{elem_id} shows {shown} (screenshot: {shot})"


def _run_tab(page, tab: str, key: str, upload: Path, results: list[str], shot: Path) -> None:
    page.get_by_role("tab", name=tab).click()
    page.locator(f"#{key}-input input[type=file]").set_input_files(str(upload))
    page.locator(f"#{key}-input #duration").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator(f"#{key}-run").click()
    try:
        for elem_id in results:
            page.locator(f"#{elem_id} a[download]").wait_for(state="attached",
                                                             timeout=RESULT_TIMEOUT_MS)
        page.locator(f"#{key}-spectrogram img").wait_for(timeout=RESULT_TIMEOUT_MS)
    finally:
        page.screenshot(path=str(shot), full_page=True)


def test_karaoke_upload_gives_two_playable_results(page, tmp_path) -> None:
    shot = tmp_path / "karaoke.png"
    _run_tab(page, "Karaoke", "karaoke", EXAMPLES / "song.ogg",
             ["karaoke-vocals", "karaoke-karaoke"], shot)
    for elem_id in ("karaoke-vocals", "karaoke-karaoke"):
        _check_player(page, elem_id, 10.0, shot)
    names = page.locator("#karaoke-files").inner_text().replace("\n", "")
    assert "song_vocals.wav" in names and "song_karaoke.wav" in names, shot
    # The menu's first entry, the --model file, ran (the test model is a mask network).
    notes = page.locator("#karaoke-notes").inner_text()
    assert "tiny-separator.safetensors (mask_separator)" in notes, (notes, shot)
    assert page.outside == [], f"requests outside the app: {page.outside} (screenshot: {shot})"
    print(f"screenshot: {shot}")


def test_karaoke_model_menu_runs_the_chosen_model(page, tmp_path) -> None:
    """Picking the shipped separator in the model menu runs it: the tab names it and the
    architecture its file records (read from the file's header here), not the test model."""
    import json

    from safetensors import safe_open

    with safe_open(str(Path(__file__).resolve().parents[1] / "sonomorph" / "pretrained"
                       / "separator.safetensors"), "np") as f:
        shipped = json.loads(f.metadata()["sonomorph"])["model"]
    shot = tmp_path / "karaoke-shipped.png"
    page.get_by_role("tab", name="Karaoke").click()
    page.locator("#karaoke-model input").click()
    page.get_by_role("option", name="shipped separator").click()
    assert page.locator("#karaoke-model input").input_value() == "shipped separator", shot
    _run_tab(page, "Karaoke", "karaoke", EXAMPLES / "song.ogg",
             ["karaoke-vocals", "karaoke-karaoke"], shot)
    for elem_id in ("karaoke-vocals", "karaoke-karaoke"):
        _check_player(page, elem_id, 10.0, shot)
    notes = page.locator("#karaoke-notes").inner_text()
    assert f"model: the shipped separator ({shipped})" in notes, (notes, shot)
    assert "tiny-separator" not in notes, (notes, shot)
    assert page.outside == [], f"requests outside the app: {page.outside} (screenshot: {shot})"


def test_karaoke_several_songs_with_options_give_one_zip(page, tmp_path) -> None:
    """Two songs at once, vocals only, as FLAC: one zip holds one FLAC per song."""
    import io
    import zipfile

    shot = tmp_path / "karaoke-batch.png"
    page.get_by_role("tab", name="Karaoke").click()
    page.locator("#karaoke-batch input[type=file]").set_input_files(
        [str(EXAMPLES / "song.ogg"), str(EXAMPLES / "sung_voice.ogg")])
    page.locator("#karaoke-stems").get_by_label("vocals", exact=True).check()
    page.locator("#karaoke-format").get_by_label("flac", exact=True).check()
    # Both uploads listed (Gradio shows each name as a stem and an extension).
    page.locator("#karaoke-batch td.filename").nth(1).wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#karaoke-run").click()
    row = page.locator("#karaoke-files tr", has_text="sonomorph-karaoke-results")
    try:
        row.first.locator("a").first.wait_for(state="attached", timeout=RESULT_TIMEOUT_MS)
    finally:
        page.screenshot(path=str(shot), full_page=True)
    response = page.request.get(row.first.locator("a").first.get_attribute("href"))
    assert response.ok, shot
    names = sorted(n for n in zipfile.ZipFile(io.BytesIO(response.body())).namelist()
                   if not n.endswith(".png"))
    assert names == ["song/song_vocals.flac", "sung_voice/sung_voice_vocals.flac"], names
    assert "2 of 2 songs separated" in page.locator("#karaoke-notes").inner_text(), shot
    assert page.outside == [], f"requests outside the app: {page.outside} (screenshot: {shot})"


def test_genre_several_clips_give_one_answer_each_and_one_zip(page, tmp_path) -> None:
    """The several-files upload other tabs share with Karaoke: two clips in the Genre tab,
    one line per clip with a genre of the test model's, one zip with a folder per clip."""
    import io
    import zipfile

    shot = tmp_path / "genre-batch.png"
    page.get_by_role("tab", name="Genre").click()
    page.locator("#genre-batch input[type=file]").set_input_files(
        [str(EXAMPLES / "genre_clip.ogg"), str(EXAMPLES / "song.ogg")])
    page.locator("#genre-batch td.filename").nth(1).wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#genre-run").click()
    row = page.locator("#genre-files tr", has_text="sonomorph-genre-results")
    try:
        row.first.locator("a").first.wait_for(state="attached", timeout=RESULT_TIMEOUT_MS)
    finally:
        page.screenshot(path=str(shot), full_page=True)
    notes = page.locator("#genre-notes").inner_text()
    assert "2 of 2 clips classified" in notes, (notes, shot)
    for name in ("genre_clip.ogg", "song.ogg"):
        line = next((x for x in notes.splitlines() if name in x), "")
        assert any(g in line for g in ("chorale", "rock", "jazz")), (notes, shot)
    response = page.request.get(row.first.locator("a").first.get_attribute("href"))
    assert response.ok, shot
    folders = {n.split("/")[0] for n in zipfile.ZipFile(io.BytesIO(response.body())).namelist()}
    assert folders == {"genre_clip", "song"}, folders
    assert page.outside == [], f"requests outside the app: {page.outside} (screenshot: {shot})"


def test_scream_upload_gives_a_playable_result(page, tmp_path) -> None:
    shot = tmp_path / "scream.png"
    _run_tab(page, "Scream", "scream", EXAMPLES / "spoken_voice.ogg", ["scream-result"], shot)
    import soundfile as sf

    _check_player(page, "scream-result", sf.info(EXAMPLES / "spoken_voice.ogg").duration, shot)
    assert page.outside == [], f"requests outside the app: {page.outside} (screenshot: {shot})"
    print(f"screenshot: {shot}")


def test_server_refuses_uploads_over_the_limit(server) -> None:
    import httpx

    big = b"\0" * (UPLOAD_LIMIT_MB * 1024 * 1024 + 1024)
    r = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.wav", big)}, timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:200])
    small = httpx.post(f"{server}gradio_api/upload", files={"files": ("../../x.wav", b"RIFF")},
                       timeout=60)
    assert small.status_code == 200
    stored = small.json()[0]
    assert "/../" not in stored and Path(stored).name == "x.wav"
