# What may be bought: base assets on the allow-list, priced in the configured quote asset, and
# nothing on the blacklist. Selling what is already held is always allowed, so that a position
# in an asset removed from the list can still be closed.
package sigmax.orders

import rego.v1

violation contains "allowed_assets" if {
	is_buy
	not input.order.base in input.limits.allowed_assets
}

violation contains "allowed_assets" if {
	is_buy
	input.order.quote != input.limits.quote_asset
}

describe("allowed_assets") := concat("", [
	"allowed_assets: ", input.order.symbol, " may not be bought, only ",
	concat(", ", input.limits.allowed_assets), " against ", input.limits.quote_asset,
])

# An entry names either a whole market (DOGE/USDT) or a base asset (DOGE).
blacklisted contains entry if {
	some entry in input.limits.blacklist
	entry in {input.order.symbol, input.order.base}
}

violation contains "blacklist" if {
	is_buy
	count(blacklisted) > 0
}

describe("blacklist") := concat("", [
	"blacklist: ", input.order.symbol, " may never be bought (blacklisted: ",
	concat(", ", sort(blacklisted)), ")",
])
