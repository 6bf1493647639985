"""Uploads a photo through the page's file input in headless Chromium.

Usage: upload_photo.py BASE_URL PHOTO OUT_DIR
Waits for the page's answer and prints one JSON object: the number shown, the server's answer,
how many digit tiles are shown and whether the photo was drawn; saves OUT_DIR/photo-page.png.
"""
import json
import pathlib
import sys
import time

from selenium.webdriver.common.by import By

import chromium

base, photo, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
driver = chromium.start(1000, 1200)
try:
    driver.get(base + "/")
    driver.find_element(By.ID, "photo").send_keys(photo)
    deadline = time.time() + 30
    while not driver.execute_script("return window.mnistlab.photos > 0"):
        assert time.time() < deadline, "the page never answered the photo"
        time.sleep(0.05)
    driver.save_screenshot(str(out / "photo-page.png"))
    print(json.dumps({
        "shown": driver.find_element(By.ID, "number").text,
        "status": driver.find_element(By.ID, "photoStatus").text,
        "result": driver.execute_script("return window.mnistlab.lastNumber"),
        "tiles": len(driver.find_elements(By.CSS_SELECTOR, "#digits img")),
        "drawn": driver.execute_script("return document.getElementById('photoView').width"),
        "canvas_kept": len(driver.find_elements(By.ID, "pad")),
    }))
finally:
    driver.quit()
