"""The limit: Flask's hello world, served by the same gunicorn configuration as Vern."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello, World!"
