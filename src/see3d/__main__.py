from see3d.cli import entry

entry()
