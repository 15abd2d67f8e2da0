"""What a run leaves behind: summary.json, JUnit annotations, Allure results and their rendered HTML."""
