"""The lab console: screens, widgets and messages of the Textual app in tui/app.py.

screens/  one Screen (or modal) per file, each with its .tcss beside it
widgets/  one widget per file, grouped by the screen region that shows it
curves.py the plotted numbers of a run (pure data, fed by records or a store)
session.py the live run: the engine on a worker thread and its coalescing buffer
base.py    ConsoleApp: Textual's App with the console's workarounds (the App's base class)
quitting.py the quit policy (QuittingApp) and the exit lines run_console prints
"""
