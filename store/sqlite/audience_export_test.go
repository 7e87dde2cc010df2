package sqlite

// Migrations are the embedded migrations, for the migration tests.
var Migrations = migrations
