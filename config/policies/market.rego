# Spot only: every order, buy or sell, is a spot order without leverage, and a sell never
# sells more than is held (a spot account cannot be short).
package sigmax.orders

import rego.v1

violation contains "spot_only" if input.order.market_type != "spot"

# Leverage below 1 means nothing on spot; the settings cap max_leverage at 1, so together
# these require leverage exactly 1.
violation contains "spot_only" if input.order.leverage_milli < 1000

violation contains "spot_only" if input.order.leverage_milli > input.limits.max_leverage_milli

describe("spot_only") := sprintf(
	"spot_only: order is %s with leverage %s, only spot orders with leverage 1 to %s are allowed",
	[
		input.order.market_type,
		leverage(input.order.leverage_milli),
		leverage(input.limits.max_leverage_milli),
	],
)

violation contains "no_shorting" if {
	is_sell
	input.order.qty_e8 > held_now
}

describe("no_shorting") := sprintf(
	"no_shorting: sell of %s %s is more than the %s held",
	[qty(input.order.qty_e8), input.order.base, qty(held_now)],
)
