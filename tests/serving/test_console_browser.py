"""The web console as a person uses it: headless Chromium, driven by selenium, against a real
server on the tiny Llama. Saves a screenshot of each page under pytest's tmp dir.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped without them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from tests.helpers import models

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver",
)

KEY = "console-key"


@pytest.fixture
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def console(start_server, tmp_path) -> str:
    """A keyed server on the tiny Llama with a context long enough for the console's chat (128 new tokens).

    Its vocabulary is the tokenizer's, so every id prints (ids past the tokenizer's words decode to nothing),
    and the special tokens' rows (<unk>, <pad>, <eos>) are zero, so their logits are 0 while some word's is
    positive: the greedy answer is words on any CPU's numerics, never an empty or unprinted stream. (Sampled,
    <eos> could come first: CI once saw an empty answer at the console's old temperature of 1.)
    """
    model = models.tiny_llama(max_position_embeddings=1024, vocab_size=len(models.tiny_tokenizer()))
    with torch.no_grad():
        model.get_input_embeddings().weight[:3] = 0
    model_dir = models.save_model_dir(model, tmp_path / "tiny-llama")
    return start_server(tmp_path / "home", PALIMPSEST_MODEL=str(model_dir), PALIMPSEST_MEMORY_EXTRACTOR="rule",
                        PALIMPSEST_API_KEY=KEY, PALIMPSEST_GUARD="false", PALIMPSEST_EDIT_COVARIANCE="identity")


def test_ingest_search_revert_through_the_console(browser, console, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def wait(condition: Callable[[], object], timeout: float = 60) -> object:
        """Until ``condition()`` is truthy; the page re-renders lists, so a stale element just means "not yet"."""
        waiting = WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,))
        return waiting.until(lambda _: condition())

    def css(selector: str):
        return browser.find_element(By.CSS_SELECTOR, selector)

    def text(selector: str) -> str:
        return css(selector).text

    def fill(selector: str, value: str) -> None:
        css(selector).clear()
        css(selector).send_keys(value)

    def shot(name: str) -> Path:
        path = tmp_path / f"console-{name}.png"
        assert browser.save_screenshot(str(path)), f"no screenshot of {name}"
        return path

    def tab(name: str) -> None:
        css(f'nav a[data-tab="{name}"]').click()
        wait(lambda: css(f"#page-{name}").is_displayed())

    port = console.rsplit(":", 1)[1]
    assert f"web console: http://127.0.0.1:{port}/console/" in (tmp_path / f"server-{port}.log").read_text()
    browser.get(console + "/")
    assert browser.current_url.startswith(console + "/console/")
    wait(lambda: text("#server-status") == "API key needed")
    fill("#api-key", KEY)
    css("#save-key").click()
    wait(lambda: "weights" in text("#server-status"))

    tab("memory")
    fill("#fact-subject", "Ilse Varga")
    fill("#fact-relation", "works for")
    fill("#fact-object", "Kettle & Finch")
    css("#add-submit").click()
    wait(lambda: "Recorded" in text("#add-result"))
    entry_id = css("#add-result a").text
    fill("#search-q", "Who does Ilse Varga work for?")
    css("#search-submit").click()
    wait(lambda: "Kettle & Finch" in text("#search-facts"))
    assert "Kettle & Finch" in text("#search-grounding")
    assert "Kettle & Finch" in text("#search-passages")
    shot("memory")
    css("#search-facts a.entity-link").click()
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#memory-view svg.graph .node.center"))
    assert "works for" in text("#memory-view svg.graph")
    shot("memory-entity")

    tab("chat")  # streamed (greedy), grounded by the relevance gate, the fact cited inline
    fill("#chat-temperature", "0")
    fill("#chat-text", "Who does Ilse Varga work for?")
    css("#chat-send").click()
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#chat-log .msg.assistant .grounding"))
    assert "Kettle & Finch" in text("#chat-log .grounding")
    assert "Kettle & Finch" in css("#chat-log sup.cite").get_attribute("title")
    assert text("#chat-log .answer"), "no streamed answer"
    shot("chat")

    tab("history")
    row = f'li.entry[data-id="{entry_id}"]'
    wait(lambda: "Ilse Varga works for Kettle & Finch" in text(row))
    css(f"{row} .entry-head").click()
    css(f"{row} button.revert").click()
    shot("history")
    css(f"{row} button.confirm-revert").click()
    wait(lambda: "reverted" in css(row).get_attribute("class"))
    Select(css("#filter-status")).select_by_value("applied")
    wait(lambda: not browser.find_elements(By.CSS_SELECTOR, row))

    tab("memory")
    css("#search-submit").click()
    wait(lambda: "no facts" in text("#search-facts"))
    assert "Kettle" not in text("#search-passages") and "Kettle" not in text("#search-grounding")

    tab("edit")
    for selector, value in (("#edit-prompt", "the capital of france is"), ("#edit-subject", "france"),
                            ("#edit-target", "rome"), ("#edit-true", "paris"), ("#edit-question", "the capital of france")):
        fill(selector, value)
    css("#edit-submit").click()
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#edit-out table.side"), timeout=120)
    assert "p(rome)" in text("#edit-out table.side")
    shot("edit")
    css("#edit-out .decision button.danger").click()
    wait(lambda: "bit-identical" in text("#edit-out .decision"))

    tab("skills")
    wait(lambda: "No skills yet" in text("#skills-table"))

    shot("skills")
    assert not css("#notice").is_displayed(), text("#notice")
