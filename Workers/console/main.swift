import Console

// console: the operations console (web pages for platform operators). Configuration from
// config/<CAREFLEET_ENV>.conf and CAREFLEET_* variables.
await ConsoleProgram.main()
