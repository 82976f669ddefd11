"""Clara's ``enc`` plugin: encrypted files and the ``openssl`` and ``gnupg`` secret stores.

* :mod:`clara_enc.opensslfmt`: the ``openssl enc -aes-256-cbc -pbkdf2`` file format, in process;
* :mod:`clara_enc.masterfile`: reading ``[common] master_passwd_file``, plain or encrypted;
* :mod:`clara_enc.openssl_store` and :mod:`clara_enc.gnupg_store`: the two backends;
* :mod:`clara_enc.workspace`, :mod:`clara_enc.editor`, :mod:`clara_enc.pager`: plaintext handling;
* :mod:`clara_enc.commands`: ``clara enc show|edit|encode|decode|rekey``;
* :mod:`clara_enc.plugin`: the hooks (the entry point ``enc``).
"""

__version__ = "0.1.0"
