package legacykeys

// ImportedID exposes the id an imported key gets, so that the import
// benchmark's reference inserts exactly the rows Import does.
var ImportedID = importedID
