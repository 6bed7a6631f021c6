# Spot only: every order, buy or sell, is a spot order without leverage, and a sell never
# sells more than is held (a spot account cannot be short).
package sigmax.orders

import rego.v1

violation contains "spot_only" if input.order.market_type != "spot"

# Leverage below 1 means nothing on spot; the settings cap max_leverage at 1, so together
# these require leverage exactly 1.
violation contains "spot_only" if input.order.leverage_milli < 1000

violation contains "spot_only" if input.order.leverage_milli > input.limits.max_leverage_milli

describe("spot_only") := concat("", [
	"spot_only: order is ", input.order.market_type, " with leverage ",
	leverage(input.order.leverage_milli), ", only spot orders with leverage 1 to ",
	leverage(input.limits.max_leverage_milli), " are allowed",
])

violation contains "no_shorting" if {
	is_sell
	input.order.qty_e8 > held_now
}

describe("no_shorting") := concat("", [
	"no_shorting: sell of ", qty(input.order.qty_e8), " ", input.order.base,
	" is more than the ", qty(held_now), " held",
])
