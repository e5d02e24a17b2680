-- The refund model's feature table: one row per order that was not cancelled (a cancelled order can never be
-- refunded, so it would only teach the model the cancellation rate). Every feature the refund policy plausibly
-- depends on: channel, discount and total, the category of the main product (line 1), the customer's tenure
-- and country, the basket size. The label: whether the payments provider has a refund for the order.
-- `$orders` etc. are the component's `sources`. Portable between DuckDB and Snowflake (prod runs it there).
with lines as (
    select
        order_id,
        count(*) as n_lines,
        sum(quantity) as n_units,
        -- the order's main product is line 1: the refund policy ties to what was bought first
        max(case when line_no = 1 then product_id end) as main_product_id
    from $order_items
    group by order_id
),
refunded_orders as (
    -- an order may have several (partial) refunds: one label per order
    select order_id, min(created_at) as first_refund_at
    from $refunds
    group by order_id
)
select
    o.order_id,
    o.order_ts,
    cast(o.channel as varchar) as channel,
    coalesce(cast(p.category as varchar), 'unknown') as category,
    coalesce(cast(c.country as varchar), 'unknown') as country,
    cast(o.total_amount as double) as total_amount,
    cast(o.discount_pct as double) as discount_pct,
    -- whole days between signup and order (signup_date is a date: exact to within a day)
    cast(datediff('day', cast(c.signup_date as date), cast(o.order_ts as date)) as integer) as tenure_days,
    cast(coalesce(l.n_lines, 0) as integer) as n_lines,
    cast(coalesce(l.n_units, 0) as integer) as n_units,
    cast(case when r.order_id is null then 0 else 1 end as integer) as refunded,
    r.first_refund_at
from $orders o
left join lines l on l.order_id = o.order_id
left join $products p on p.product_id = l.main_product_id
left join $customers c on c.customer_id = o.customer_id
left join refunded_orders r on r.order_id = o.order_id
where o.status <> 'cancelled'
