"""
The static files storage of production: WhiteNoise's compressed, hashed files, with the imports
of the page's ES modules (static/chat/*.js) rewritten to the hashed names too, so that a module
and everything it imports stay cached together and change together.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ModuleImportsManifestStorage(CompressedManifestStaticFilesStorage):
    # `import ... from "./x.js";` becomes `import ... from "./x.1a2b3c4d5e6f.js";`. Django's
    # patterns need the statement's semicolon, and the modules' imports must not form a cycle
    # (each file's hash depends on those it imports).
    support_js_module_import_aggregation = True
