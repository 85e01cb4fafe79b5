"""Course rosters from Canvas, Moodle or a plain CSV, and the grade files those systems import."""
