"""Model files shipped with SmartSession (see PROVENANCE.md and licenses/ beside this file).

Load them through `smartsession.vision.models`, which checks each file's sha256.
"""
