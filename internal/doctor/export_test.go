package doctor

// CheckConfig exposes the config check alone to the tests: its warnings
// are about a base_url the other checks would really call.
var CheckConfig = checkConfig
