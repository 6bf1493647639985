"""Headless Debian Chromium driven by chromedriver, as the page tests start it."""
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def start(width, height):
    """A WebDriver session on a fresh headless Chromium window of `width`×`height` pixels."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
