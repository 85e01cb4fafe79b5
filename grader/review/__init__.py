"""`grader review`: a local web app where TAs grade manual items, override automatic ones and regrade."""
