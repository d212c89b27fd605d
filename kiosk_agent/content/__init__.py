"""Content shared by the notice, the block page and the toasts: locale texts and countries.

Imports none of filter, notices, reporting or service: they all read it.
"""
