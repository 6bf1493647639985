"""Draws digits on mnistlab's page in headless Chromium, stroke by stroke with pointer events.

Usage: draw_digits.py BASE_URL OUT_DIR
For each digit it clears the pad, draws the strokes, waits for the page's last answer, and
records what the page shows (class, bar probabilities and percentages) and the PNG the page
sent (OUT_DIR/drawn-<digit>.png). Saves OUT_DIR/page.png, a screenshot after the last digit.
Prints one JSON list.
"""
import base64
import json
import pathlib
import sys
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

import chromium

base, out = sys.argv[1], pathlib.Path(sys.argv[2])
# Polylines on the 280×280 pad, drawn large and off-centre as a person would.
DIGITS = {
    1: [[(170, 60), (200, 30), (200, 250)]],
    7: [[(40, 40), (170, 40), (90, 220)]],
    0: [[(160, 60), (110, 80), (95, 150), (115, 230), (165, 250), (215, 220), (230, 150), (210, 75), (160, 60)]],
}

driver = chromium.start(1000, 700)
try:
    driver.get(base + "/")
    deadline = time.time() + 20
    while "Model:" not in driver.find_element(By.ID, "models").text:
        assert time.time() < deadline, "the page never described its model"
        time.sleep(0.05)
    pad = driver.find_element(By.ID, "pad")
    results = []
    for digit, strokes in DIGITS.items():
        driver.find_element(By.ID, "clear").click()
        before = driver.execute_script("return window.mnistlab.answered")
        for stroke in strokes:
            # Offsets are from the element's centre; each move is a pointermove while held.
            x0, y0 = stroke[0]
            chain = ActionChains(driver, duration=15).move_to_element_with_offset(pad, x0 - 140, y0 - 140).click_and_hold()
            for (xa, ya), (xb, yb) in zip(stroke, stroke[1:]):
                steps = max(1, int(max(abs(xb - xa), abs(yb - ya)) / 12))
                for k in range(1, steps + 1):
                    chain.move_to_element_with_offset(pad, round(xa + (xb - xa) * k / steps) - 140, round(ya + (yb - ya) * k / steps) - 140)
            chain.release().perform()
        deadline = time.time() + 20
        while not driver.execute_script("return window.mnistlab.idle() && window.mnistlab.answered > arguments[0]", before):
            assert time.time() < deadline, "the page never answered"
            time.sleep(0.05)
        state = driver.execute_script("return {sent: window.mnistlab.lastSent, result: window.mnistlab.lastResult, requests: window.mnistlab.requests}")
        png = base64.b64decode(state["sent"].split(",", 1)[1])
        path = out / f"drawn-{digit}.png"
        path.write_bytes(png)
        bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
        results.append({
            "digit": digit,
            "png": str(path),
            "shown": driver.find_element(By.ID, "answer").text,
            "bar_probabilities": [float(b.get_attribute("data-p")) for b in bars],
            "bar_percent_texts": [b.find_element(By.CSS_SELECTOR, ".pct").text for b in bars],
            "seen_src": driver.find_element(By.ID, "seen").get_attribute("src")[:22],
            "server_class": state["result"]["class"],
            "requests": state["requests"],
        })
    driver.save_screenshot(str(out / "page.png"))
    print(json.dumps(results))
finally:
    driver.quit()
