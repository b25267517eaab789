"""neuralzoo serve's page in a real browser: `neuralzoo serve` started as a user would, on a free
port, with tiny trained runs; headless Chromium (Debian's ``chromium``, driven by Playwright) draws
a stroke, moves the interpolation slider and uses every panel. Screenshots go to each test's
temporary folder."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("captum")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(pip install -e '.[test]')")


CHROMIUM = os.environ.get("NEURALZOO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except sync_api.Error as e:
            pytest.skip(f"Chromium at {CHROMIUM} cannot start: {str(e).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(shared_runs):
    """The base URL of `neuralzoo serve` over five runs, on a port the system chose."""
    folder = shared_runs({"cnn": ("cnn", {"data": "digits", "epochs": 8}),
                          "vae": ("vae", {"data": "digits", "latent_dim": 2, "epochs": 10}),
                          "gan": ("gan", {"data": "digits", "conditional": True, "max_steps": 5}),
                          "gru": ("gru", {"data": "sunspots", "max_steps": 20}),
                          "lstm": ("lstm", {"data": "fable", "max_steps": 5})})
    process = subprocess.Popen([sys.executable, "-m", "neuralzoo", "serve", "--port", "0",
                                *(str(folder / name) for name in ("cnn", "vae", "gan", "gru", "lstm"))],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    url, seen = None, []
    while url is None:
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            break
        seen.append(line)
        if "http://" in line:
            url = line.split("http://", 1)[1].split("/", 1)[0]
    if url is None:
        process.kill()
        pytest.fail("neuralzoo serve did not start:\n" + "".join(seen))
    yield f"http://{url}"
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.errors = []
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    opened.on("console", lambda message: opened.errors.append(message.text)
              if message.type == "error" else None)
    # nothing but the served page may be fetched
    opened.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "data:")) else route.abort())
    yield opened
    context.close()


def red_share(page, canvas: str) -> float:
    """The share of a canvas's pixels where red dominates (the overlay)."""
    return page.evaluate(f"""() => {{
        const c = document.querySelector('{canvas}');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let red = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60) red++;
        return red / (d.length / 4);
    }}""")


def test_drawing_a_digit_shows_probabilities_and_an_overlay(server, page, tmp_path):
    page.goto(f"{server}/?run=cnn")
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 150, box["y"] + 40)
    page.mouse.down()
    for k in range(1, 21):   # a "1": one stroke down the middle
        page.mouse.move(box["x"] + 150 - k, box["y"] + 40 + 10 * k)
    page.mouse.up()
    # the page's own state: no request in flight, none waiting (the answer is the whole stroke's)
    page.wait_for_function("!inFlight && !dirty && document.querySelectorAll('#probabilities .bar').length "
                           "=== 10 && document.getElementById('seen').dataset.overlay === 'grad-cam'",
                           timeout=15000)
    shares = page.eval_on_selector_all("#probabilities .bar > span:last-child",
                                       "spans => spans.map(s => parseFloat(s.textContent))")
    assert sum(shares) == pytest.approx(100, abs=1)
    assert page.inner_text("#probabilities .bar.top > span:first-child") == "1"
    assert red_share(page, "#seen") > 0.05
    page.select_option("#overlay", "saliency")
    page.wait_for_function("document.getElementById('seen').dataset.overlay === 'saliency'")
    page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)
    # the bars stay where they are whatever the caption under the input says
    where = page.locator("#probabilities").bounding_box()["x"]
    for overlay in ("none", "grad-cam", "saliency"):
        page.select_option("#overlay", overlay)
        page.wait_for_function(f"document.getElementById('seen').dataset.overlay === "
                               f"{'' if overlay == 'none' else overlay!r} && !inFlight && !dirty")
        assert page.locator("#probabilities").bounding_box()["x"] == where, overlay
    # the card names the run's own settings, not the family's preset, and no data task
    about = page.inner_text("#about")
    assert "this run: default settings, no preset" in about and "(classify)" not in about
    page.click("#clear")
    assert page.locator("#probabilities .bar").count() == 0
    assert page.errors == []


def test_the_vae_slider_and_map_decode(server, page, tmp_path):
    page.goto(f"{server}/?run=vae")
    page.wait_for_function("document.getElementById('between').src.startsWith('data:image/png')")
    before = page.get_attribute("#between", "src")
    page.locator("#t").fill("0.9")
    page.wait_for_function("document.getElementById('between').dataset.t === '0.9'")
    assert page.get_attribute("#between", "src") != before
    assert page.inner_text("#t-value") == "0.90"
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + 300)
    page.wait_for_function("document.getElementById('decoded').src.startsWith('data:image/png')")
    page.wait_for_function("document.getElementById('samples').src.startsWith('data:image/png')")
    page.screenshot(path=str(tmp_path / "vae.png"), full_page=True)
    assert "(classify)" not in page.inner_text("#about") and "sample" in page.inner_text("#about")
    assert page.errors == []


def test_sample_forecast_and_text_panels(server, page, tmp_path):
    page.goto(f"{server}/?run=gan")
    page.wait_for_function("document.getElementById('about').textContent.includes('jobs')")
    assert "(classify)" not in page.inner_text("#about")
    page.wait_for_function("document.getElementById('samples').src.startsWith('data:image/png')")
    first = page.get_attribute("#samples", "src")
    page.select_option("#label", "7")
    page.wait_for_function(f"document.getElementById('samples').src !== {first!r}")
    page.screenshot(path=str(tmp_path / "gan.png"), full_page=True)

    page.goto(f"{server}/?run=gru")
    page.wait_for_function("document.getElementById('chart').dataset.horizon === "
                           "document.getElementById('horizon').value")
    page.fill("#horizon", "5")
    page.dispatch_event("#horizon", "change")
    page.wait_for_function("document.getElementById('chart').dataset.horizon === '5'")
    # every line has a key with its colour, the baselines named as such; the time axis is labelled
    keys = page.eval_on_selector_all("#legend .key", "keys => keys.map(k => [k.dataset.line, "
                                     "k.textContent, getComputedStyle(k.firstChild).borderTopColor])")
    names = [name for name, _text, _colour in keys]
    assert names[:3] == ["history", "truth", "forecast"] and "naive" in names and "ar_12" in names
    assert all(text.endswith("(baseline)") for name, text, _ in keys[3:])
    colours = [colour for name, _text, colour in keys if name not in ("history", "truth")]
    assert len(set(colours)) == len(colours)   # the forecast and each baseline a colour of its own
    ticks = page.get_attribute("#chart", "data-ticks").split(",")
    assert len(ticks) >= 3 and all(1700 <= int(year) <= 2008 for year in ticks)   # sunspots' years
    page.screenshot(path=str(tmp_path / "forecast.png"), full_page=True)

    page.goto(f"{server}/?run=lstm")
    page.fill("#prompt", "The fox")
    page.fill("#length", "60")
    page.click("#write")
    page.wait_for_function("document.getElementById('text').textContent.length === 67")
    assert page.inner_text("#text").startswith("The fox")
    page.screenshot(path=str(tmp_path / "text.png"), full_page=True)
    assert page.errors == []
    assert page.is_hidden("#classify") and page.is_visible("#generate")


def test_the_api_docs_render_with_nothing_from_the_network(server, browser, tmp_path):
    """/docs once loaded Swagger UI and a favicon from CDNs, and showed a blank page offline."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    errors, outside = [], []
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def only_here(route):
        if route.request.url.startswith((server, "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    opened.route("**/*", only_here)
    opened.goto(f"{server}/docs", wait_until="networkidle")
    opened.wait_for_selector(".opblock-summary-path", timeout=15000)
    opened.screenshot(path=str(tmp_path / "docs.png"))
    listed = opened.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
    assert any("/api/runs/{name}/decode" in text.replace("\u200b", "") for text in listed), listed
    # ReDoc's bundle fetches a logo from the web: not served rather than half offline
    assert opened.goto(f"{server}/redoc").status == 404
    context.close()
    assert outside == [] and errors == []
