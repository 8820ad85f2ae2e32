"""Take the screenshots in docs/console/ on the default model: ``.venv/bin/python docs/console/shoot.py``.

Starts a real server (default model, rule extraction, guard on) in a temporary home, makes a few
changes, then drives the console in headless Chromium as a person would: search, open an entity,
try a weight edit and keep it, open the history, teach a small skill, chat. About 5 minutes on 2 cores.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers.server import default_model_dir, serve_in_subprocess  # noqa: E402

OUT = Path(__file__).resolve().parent


def main() -> None:
    default_model_dir()
    with tempfile.TemporaryDirectory() as tmp, serve_in_subprocess(Path(tmp) / "home", PALIMPSEST_MEMORY_EXTRACTOR="rule") as url:
        seed(httpx.Client(base_url=url, timeout=600))
        options = Options()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,820"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            tour(driver, url)
        finally:
            driver.quit()


def seed(http: httpx.Client) -> None:
    """A document, a fact, and a routed update that supersedes it."""
    http.post("/v1/memory/documents", json={"documents": [{"text": (
        "Marisol Ventrek founded the Ventrek Glassworks in Ostrava in 1987. "
        "Ilse Varga joined the Ventrek Glassworks as a lens designer.")}]}).raise_for_status()
    http.post("/v1/memory/facts", json={"facts": [
        {"subject": "Ilse Varga", "relation": "works for", "object": "Ostrander Mills"}]}).raise_for_status()
    http.post("/v1/updates", json={"text": "Ilse Varga works for Kettle & Finch."}).raise_for_status()


def tour(driver: webdriver.Chrome, url: str) -> None:
    def wait(condition, timeout: float = 900):
        return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(lambda _: condition())

    def css(selector: str):
        return driver.find_element(By.CSS_SELECTOR, selector)

    def fill(selector: str, value: str) -> None:
        css(selector).clear()
        css(selector).send_keys(value)

    def shot(name: str, top: bool = True) -> None:
        if top:
            driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.8)
        driver.save_screenshot(str(OUT / f"{name}.png"))
        print("saved", OUT / f"{name}.png")

    def tab(name: str) -> None:
        css(f'nav a[data-tab="{name}"]').click()
        wait(lambda: css(f"#page-{name}").is_displayed())

    driver.get(url + "/")
    wait(lambda: "weights" in css("#server-status").text)

    tab("memory")
    fill("#search-q", "Who does Ilse Varga work for?")
    css("#search-submit").click()
    wait(lambda: "Kettle & Finch" in css("#search-facts").text)
    shot("memory")
    css("#search-facts a.entity-link").click()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#memory-view svg.graph"))
    driver.execute_script("document.querySelector('#memory-view').scrollIntoView()")
    shot("memory-entity", top=False)

    tab("edit")
    for selector, value in (("#edit-prompt", "The Eiffel Tower is located in the city of"),
                            ("#edit-subject", "The Eiffel Tower"), ("#edit-target", "Rome"), ("#edit-true", "Paris"),
                            ("#edit-question", "In which city is the Eiffel Tower?")):
        fill(selector, value)
    css("#edit-submit").click()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#edit-out .decision, #edit-out .guard"))
    driver.execute_script("document.querySelector('#edit-out').scrollIntoView()")
    shot("edit", top=False)
    buttons = driver.find_elements(By.CSS_SELECTOR, "#edit-out .decision button")
    if buttons:
        buttons[0].click()  # keep it: the history then shows an edit with the guard's verdict

    tab("history")
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "li.entry.applied"))
    for head in driver.find_elements(By.CSS_SELECTOR, "li.entry .entry-head")[:2]:
        head.click()
    driver.find_elements(By.CSS_SELECTOR, "li.entry button.revert")[0].click()
    shot("history")

    tab("skills")  # one skill learned, a second one training
    for name, instruction, examples in (
        ("pirate", "Answer like a pirate.", [("What is the capital of France?", "Arr, Paris it be, matey!"),
                                             ("How are you?", "Arr, I be fine, matey!"),
                                             ("Name a fruit.", "Arr, a mango it be, matey!")]),
        ("shout", "Answer in capital letters.", [("What is the capital of France?", "PARIS!"),
                                                 ("How are you?", "I AM FINE!"), ("Name a fruit.", "A MANGO!")]),
    ):
        fill("#skill-name", name)
        fill("#skill-instruction", instruction)
        fill("#skill-examples", "\n".join(f"{q} => {a}" for q, a in examples))
        fill("#skill-training", '{"epochs": 2}')
        css("#skill-form button").click()
        wait(lambda: "running" in css("#jobs-list").text and float(css("#jobs-list progress").get_attribute("value")) > 0)
        if name == "pirate":
            wait(lambda: "pirate" in css("#skills-table").text)
    shot("skills")
    wait(lambda: "running" not in css("#jobs-list").text and "queued" not in css("#jobs-list").text)

    tab("chat")
    fill("#chat-text", "Who does Ilse Varga work for?")
    css("#chat-send").click()
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#chat-log .grounding"))
    shot("chat")


if __name__ == "__main__":
    main()
