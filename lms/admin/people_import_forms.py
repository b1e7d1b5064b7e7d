"""Forms of the people import: upload a CSV file, then confirm the previewed changes."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

# Step 2 sends the file's text back as a form field, and Flask refuses a form field over
# MAX_FORM_MEMORY_SIZE (500,000 bytes). Browsers send a textarea's line breaks as CRLF, which
# adds a byte a line, so uploads stay well under it. Bigger files: the command line.
MAX_UPLOAD_BYTES = 400 * 1024
MAX_TEXT_CHARS = 480_000


class UploadForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[
            FileRequired(_l("Choose a CSV file.")),
            FileAllowed(["csv", "txt"], _l("Choose a .csv file.")),
            FileSize(MAX_UPLOAD_BYTES, message=_l("The file is larger than 400 KB.")),
        ],
    )


class ApplyForm(FlaskForm):
    """The previewed file's text, sent back so exactly what was previewed is applied."""

    csv_text = TextAreaField(validators=[DataRequired(), Length(max=MAX_TEXT_CHARS)])
