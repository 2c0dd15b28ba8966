"""Sphinx configuration of the course website (``make book``).

``tools/build_book.py`` lays out the sources in ``build/book/src`` (this folder,
the committed notebooks, the student exercise notebooks, a generated results
page) and builds them into ``build/book/html``. Notebooks are shown with the
outputs they were committed with: nothing is executed.
"""

import os

project = "Collaborative filtering with Keras"
author = "The course maintainers"
copyright = "the course maintainers; code and text MIT-licensed"  # noqa: A001

extensions = ["myst_nb"]
# The committed outputs are what readers see: never re-execute (nbval checks them).
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
# README.md is the repository's, copied in only to be included by index.md and about.md.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
# Phone-width pages and compact DataFrames (the file says what each rule is for).
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_title = project
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "use_download_button": True,
}
# The workflow sets the repository's address; with it, pages get a link to the
# repository and notebooks get Binder and Colab buttons (their paths match the repo's).
repository_url = os.environ.get("BOOK_REPOSITORY_URL", "").rstrip("/")
if repository_url:
    html_theme_options.update(
        repository_url=repository_url,
        repository_branch=os.environ.get("BOOK_REPOSITORY_BRANCH", "main"),
        path_to_docs="",
        use_repository_button=True,
        launch_buttons={
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
            "notebook_interface": "jupyterlab",
        },
    )
