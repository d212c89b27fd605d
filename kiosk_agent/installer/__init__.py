"""Installing the agent on a café PC: the wizard, the steps, and uninstalling."""
