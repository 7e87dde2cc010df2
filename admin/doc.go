// Package admin is the admin REST API of SPEC §4: JSON under /admin/v1/ for
// tenants, principals, roles, bindings, clients, legacy keys, signing keys,
// the audit log and reports, and the OpenAPI document that describes it.
//
// Every call carries one of this server's access tokens. authz:admin (held
// by clients of the system tenant) sees everything; authz:tenant-admin sees
// and changes only its own tenant, and another tenant's objects answer
// 404 so that their existence is not confirmed. Every change commits in one
// store transaction together with its audit event, so the trail cannot miss
// a change or record one that did not happen.
//
// The wire objects live in admin/apiv1, shared with adminclient.
package admin
