# Size limits on buys: one position, all positions together, one position against equity, and
# the number of positions. A sell only reduces risk, so these rules never look at sells.
# Exactly at a limit is allowed; one unit above it is denied.
package sigmax.orders

import rego.v1

violation contains "max_position_size" if {
	is_buy
	position_after > input.limits.max_position_size_micro_usd
}

describe("max_position_size") := sprintf(
	"max_position_size: position would be %s USD, limit %s USD",
	[usd(position_after), usd(input.limits.max_position_size_micro_usd)],
)

violation contains "max_exposure" if {
	is_buy
	exposure_after > input.limits.max_exposure_micro_usd
}

describe("max_exposure") := sprintf(
	"max_exposure: open exposure would be %s USD, limit %s USD",
	[usd(exposure_after), usd(input.limits.max_exposure_micro_usd)],
)

# position / equity > limit_bp / 10000, cross-multiplied so that no division is needed.
violation contains "max_position_pct_of_equity" if {
	is_buy
	position_after * 10000 > input.limits.max_position_pct_of_equity_bp * input.account.equity_micro_usd
}

describe("max_position_pct_of_equity") := sprintf(
	"max_position_pct_of_equity: position would be %s USD, %s%% of equity %s USD, limit %s%%",
	[
		usd(position_after),
		position_pct_text,
		usd(input.account.equity_micro_usd),
		pct(input.limits.max_position_pct_of_equity_bp),
	],
)

# Rounded down to the basis point; with no equity every position is "all of it and more".
position_pct_text := pct(floor((position_after * 10000) / input.account.equity_micro_usd)) if {
	input.account.equity_micro_usd > 0
}

position_pct_text := "more than 100" if input.account.equity_micro_usd == 0

violation contains "max_open_positions" if {
	is_buy
	opens_new_position
	input.account.open_positions >= input.limits.max_open_positions
}

describe("max_open_positions") := sprintf(
	"max_open_positions: %s would open position %d, limit %d open positions",
	[input.order.symbol, input.account.open_positions + 1, input.limits.max_open_positions],
)
