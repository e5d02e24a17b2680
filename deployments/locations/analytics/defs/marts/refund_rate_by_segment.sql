-- Refund rate per channel and per product category (two dimensions, one row per segment). An order's
-- category is its first line's product's: the line a customer came for, and one category per order keeps
-- the rates of the categories comparable (every order counts once).
with refunded as (
    select distinct order_id from $refunds
),
first_line as (
    select i.order_id, p.category
    from $order_items as i
    join $products as p on p.product_id = i.product_id
    where i.line_no = 1
),
order_facts as (
    select
        o.channel,
        coalesce(f.category, 'unknown') as category,
        case when r.order_id is null then 0 else 1 end as is_refunded,
        o.order_ts
    from $orders as o
    left join first_line as f on f.order_id = o.order_id
    left join refunded as r on r.order_id = o.order_id
    where o.status <> 'cancelled'
)
select
    'channel' as dimension,
    channel as segment,
    count(*) as orders,
    sum(is_refunded) as refunded_orders,
    round(cast(sum(is_refunded) as double) / count(*), 6) as refund_rate,
    max(order_ts) as last_order_at
from order_facts
group by channel
union all
select
    'category' as dimension,
    category as segment,
    count(*) as orders,
    sum(is_refunded) as refunded_orders,
    round(cast(sum(is_refunded) as double) / count(*), 6) as refund_rate,
    max(order_ts) as last_order_at
from order_facts
group by category
