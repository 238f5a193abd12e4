package armemu

import (
	"net/http"
	"strings"
	"time"
)

func init() {
	handle("GET", "subscriptions", "Microsoft.Resources/subscriptions/read", "subscriptions", apiAny, listSubscriptions)
	handle("GET", "subscriptions/{}", "Microsoft.Resources/subscriptions/read", "subscriptions", apiAny, getSubscription)
	handle("GET", "tenants", "Microsoft.Resources/tenants/read", "tenants", apiAny, listTenants)
	handle("GET", "subscriptions/{}/locations", "Microsoft.Resources/subscriptions/locations/read", "locations", apiAny, listLocations)
}

func (s *Server) subscriptionBody(id string, i int) map[string]any {
	return map[string]any{"id": "/subscriptions/" + id, "subscriptionId": id, "tenantId": s.tenant,
		"displayName": "Emulated subscription " + string(rune('A'+i%26)), "state": "Enabled", "authorizationSource": "RoleBased",
		"managedByTenants": []any{}, "tags": map[string]string{},
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}
}

func listSubscriptions(c *call) (int, any, *armError) {
	var out []any
	for i, id := range c.s.subs {
		out = append(out, c.s.subscriptionBody(id, i))
	}
	return 200, map[string]any{"value": out, "count": map[string]any{"type": "Total", "value": len(out)}}, nil
}

func getSubscription(c *call) (int, any, *armError) {
	for i, id := range c.s.subs {
		if strings.EqualFold(id, c.args[0]) {
			return 200, c.s.subscriptionBody(id, i), nil
		}
	}
	return 0, nil, errf(404, "SubscriptionNotFound", "The subscription '%s' could not be found.", c.args[0])
}

func listTenants(c *call) (int, any, *armError) {
	return 200, map[string]any{"value": []any{map[string]any{"id": "/tenants/" + c.s.tenant, "tenantId": c.s.tenant,
		"tenantCategory": "Home", "countryCode": "US", "displayName": "Emulated tenant", "domains": []string{"emu.invalid"},
		"defaultDomain": "emu.invalid", "tenantType": "AAD"}}}, nil
}

// emuRegions are the regions the locations list offers (any name is accepted elsewhere).
var emuRegions = [][2]string{{"westeurope", "West Europe"}, {"northeurope", "North Europe"}, {"eastus", "East US"}, {"westus2", "West US 2"}}

func listLocations(c *call) (int, any, *armError) {
	var out []any
	for _, r := range emuRegions {
		out = append(out, map[string]any{"id": "/subscriptions/" + c.sub + "/locations/" + r[0], "name": r[0], "displayName": r[1],
			"regionalDisplayName": r[1], "type": "Region", "metadata": map[string]any{"regionType": "Physical", "regionCategory": "Recommended"}})
	}
	return 200, map[string]any{"value": out}, nil
}

// serveMetadata answers the cloud metadata document (unauthenticated): the array
// form of api-version 2019-05-01 and later (go-azure-helpers, az), or the single
// object of 2015-01-01 that `az cloud register --endpoint-resource-manager` reads.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	if r.Method != http.MethodGet {
		s.record("", actionMetadata, r, 405, now)
		writeJSON(w, 405, errf(405, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method).body())
		return
	}
	base := s.BaseURL()
	auth := map[string]any{"loginEndpoint": base, "audiences": []string{base}, "tenant": "common", "identityProvider": "AAD"}
	v := r.URL.Query().Get("api-version")
	s.record("", actionMetadata, r, 200, now)
	if t, err := time.Parse("2006-01-02", v); err == nil && t.Before(time.Date(2019, 5, 1, 0, 0, 0, 0, time.UTC)) {
		writeJSON(w, 200, map[string]any{"galleryEndpoint": base, "graphEndpoint": "https://graph.emu.invalid/",
			"portalEndpoint": "https://portal.emu.invalid/", "authentication": auth})
		return
	}
	writeJSON(w, 200, []any{map[string]any{
		"name": CloudName, "resourceManager": base, "authentication": auth,
		"portal": "https://portal.emu.invalid", "gallery": base, "graph": "https://graph.emu.invalid/", "graphAudience": "https://graph.emu.invalid/",
		"microsoftGraphResourceId": "https://graph.emu.invalid/", "sqlManagement": "https://sqlmanagement.emu.invalid:8443/",
		"batch": "https://batch.emu.invalid/", "media": "https://rest.media.emu.invalid", "vmImageAliasDoc": base + "vmImageAliasDoc",
		"activeDirectoryDataLake": "https://datalake.emu.invalid/", "appInsightsResourceId": "https://api.applicationinsights.emu.invalid",
		"appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.emu.invalid/v2/track",
		"attestationResourceId":                 "https://attest.emu.invalid", "synapseAnalyticsResourceId": "https://dev.azuresynapse.emu.invalid",
		"logAnalyticsResourceId": "https://api.loganalytics.emu.invalid", "ossrDbmsResourceId": "https://ossrdbms-aad.database.emu.invalid",
		"suffixes": map[string]any{"keyVaultDns": "vault.emu.invalid", "storage": "core.emu.invalid", "acrLoginServer": "azurecr.emu.invalid",
			"sqlServerHostname": "database.emu.invalid", "azureDataLakeStoreFileSystem": "azuredatalakestore.emu.invalid",
			"azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.emu.invalid", "mhsmDns": "managedhsm.emu.invalid",
			"mysqlServerEndpoint": "mysql.database.emu.invalid", "postgresqlServerEndpoint": "postgres.database.emu.invalid",
			"mariadbServerEndpoint": "mariadb.database.emu.invalid", "synapseAnalytics": "dev.azuresynapse.emu.invalid",
			"attestationEndpoint": "attest.emu.invalid"},
	}})
}
