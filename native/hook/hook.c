/* libsidelane_hook.so: the LD_PRELOAD connect() hook (DESIGN 3.3). Placeholder until the hook lands. */
__attribute__((visibility("default"))) int sidelane_hook_version(void) { return 0; }
