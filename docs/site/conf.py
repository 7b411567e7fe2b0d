# Sphinx configuration of the minijoint site. Build it with `python -m minijoint.site OUT`
# (minijoint/site/), which gathers the pages into a temporary folder, runs the tutorials,
# and calls Sphinx with this folder as the configuration directory.
project = "minijoint"
author = "the minijoint authors"
copyright = "the minijoint authors"

extensions = [
    "myst_nb",                    # Markdown (MyST) and executed notebooks
    "sphinx.ext.autodoc",         # the API pages, from the docstrings
    "sphinx.ext.viewcode",        # each documented object links to its highlighted source
    "sphinx-mathjax-offline",     # MathJax 3 copied into _static/: math renders offline
    "minijoint.site.sphinx_ext",  # the "Source:" line on every page
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["minijoint.css"]
html_theme = "alabaster"
html_title = "minijoint"
smartquotes = False   # text as written: no curly quotes, and "--flag" never becomes an en dash
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "description": "Joint A-SNN from scratch in NumPy: a course in spiking networks",
    "page_width": "1180px",
    "sidebar_width": "250px",
    "fixed_sidebar": True,
    "show_relbars": True,
}

# MyST: $...$ and $$...$$ math in Markdown and notebooks; GitHub-style heading anchors so
# the README's links (#what-is-where) resolve.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4
# The build runs the tutorials itself (working directory tutorials/, as the tests do), so
# MyST-NB only renders the outputs it is given.
nb_execution_mode = "off"
nb_merge_streams = True

# The API pages: the docstrings are reStructuredText with :math: roles (no NumPy/Google
# sections, so no napoleon); signatures keep their annotations as written.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
add_module_names = False
# A docstring's "::" block holds formulas and aligned text more often than code: no colours.
highlight_language = "none"
