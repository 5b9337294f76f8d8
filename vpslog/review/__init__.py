"""Fidelity reviews: the scale as data (scale.py, schemas/review.toml), pure scoring and
comparison (scoring.py), and the review report with its renderers (report.py). Records and
SQL live in models.py and store/review.py; the rules for changing a review in program.py."""
