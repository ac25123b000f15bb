//! nbformat 4 notebook -> one self-contained HTML page (in progress).
